"""Run playbooks/preauthenticate.yml interactively under a pseudo-terminal, as a person would.

Usage: interactive.py SIM_URL OUTPUT_FILE -- ansible-playbook ARGS...
The playbook's output goes to OUTPUT_FILE; the landed URL is typed in, never printed.
"""

from __future__ import annotations

import os
import sys

from driver import login

sys.path.insert(0, os.path.join(os.environ["COLLECTION_ROOT"], "tests"))
from simulator.person import Person  # noqa: E402  pylint: disable=wrong-import-position


def main() -> int:
    sim, output = sys.argv[1], sys.argv[2]
    command = sys.argv[sys.argv.index("--") + 1 :]
    person = Person(sign_in=lambda url: login(sim, url), answers={"Your job title": "Controller"})
    with open(output, "wb") as handle:
        code = person.run(command, output=handle)
    if code != 0 or person.timed_out:
        state = (code, person.timed_out, sorted(person.answered), person.pasted)
        print("interactive run ended with %d (timed out: %s, answered %s, pasted %s)" % state, file=sys.stderr)
    return code if not person.timed_out else 1


if __name__ == "__main__":
    sys.exit(main())
