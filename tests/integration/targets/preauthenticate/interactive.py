"""Run playbooks/preauthenticate.yml interactively under a pseudo-terminal, as a person would:
read the URL it prints, let the simulator's scripted browser sign in, answer the prompts.

Usage: interactive.py SIM_URL OUTPUT_FILE -- ansible-playbook ARGS...
The playbook's output goes to OUTPUT_FILE; the landed URL is typed in, never printed.
"""

from __future__ import annotations

import os
import pty
import re
import select
import sys
import time

from driver import login

ANSWERS = {"Your job title": "Controller"}
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def type_in(fd: int, answer: str) -> None:
    """Type an answer the way a person does: after the prompt is up. pause discards (flushes)
    input that arrives before it has switched the terminal to its own mode."""
    time.sleep(1.0)
    os.write(fd, answer.encode() + b"\r")


def main() -> int:
    sim, output = sys.argv[1], sys.argv[2]
    command = sys.argv[sys.argv.index("--") + 1 :]
    pid, fd = pty.fork()
    if pid == 0:
        os.environ["ANSIBLE_NOCOLOR"] = "1"
        os.execvp(command[0], command)
    seen = b""
    answered: set[str] = set()
    pasted = False
    deadline = time.monotonic() + 240
    with open(output, "wb") as log:
        while time.monotonic() < deadline:
            ready, _w, _x = select.select([fd], [], [], 0.5)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            log.write(chunk)
            log.flush()
            seen += chunk
            text = ANSI.sub("", seen.decode("utf-8", "replace"))
            for prompt, answer in ANSWERS.items():
                if prompt in text and prompt not in answered and text.rstrip().endswith(":"):
                    answered.add(prompt)
                    type_in(fd, answer)
            if not pasted and "Paste the full address" in text and text.rstrip().endswith(":"):
                url = re.findall(r"open this URL in a browser: (\S+?)\"?,?\r?$", text, re.M)[-1]
                type_in(fd, login(sim, url))
                pasted = True
        else:
            os.kill(pid, 9)
            print("interactive run timed out", file=sys.stderr)
    _pid, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        took = 240 - (deadline - time.monotonic())
        print("interactive run ended with %d after %.0f s (answered %s, pasted %s)" % (code, took, sorted(answered), pasted), file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
