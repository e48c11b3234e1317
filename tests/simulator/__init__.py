"""A local authorization server that behaves like Exact Online (and two generic profiles).

The embedded default that ``make demo`` runs against and the fixture every test uses. See
``README.md`` beside this file for the URL layout, the rules, and the control API.
"""

from .authority import DEFAULT_CONFIG, PROFILES, fingerprint
from .server import Simulator

__all__ = ["DEFAULT_CONFIG", "PROFILES", "Simulator", "fingerprint"]
