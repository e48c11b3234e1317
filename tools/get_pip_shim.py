"""Stand-in for the get-pip.py bootstrap script that ``ansible-test --venv`` downloads.

ansible-test creates its virtual environments without pip and fetches get-pip.py from a host
that this project's build machines cannot reach. This script does the same job with what every
CPython ships: ``ensurepip`` installs a pip, which then installs the exact pip (and any other
infrastructure packages) ansible-test asked for, from the package index.
Installed as ``~/.ansible/test/cache/get_pip_<version>.py`` by ``tools/test.sh``.
"""

import subprocess
import sys

subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"], stdout=subprocess.DEVNULL)
# get-pip.py's own switches; plain pip does not know them.
ARGS = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", "--upgrade", "--force-reinstall"] + ARGS))
