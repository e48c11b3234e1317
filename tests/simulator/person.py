"""A person at the terminal: runs a command under a pseudo-terminal, answers its prompts, and
when it asks for the address the browser landed on, signs in with the scripted browser.

Used by the interactive integration test and by ``make demo``. The landed URL (it holds the
authorization code) is typed into the terminal, never printed; prompts with hidden input do
not echo it.
"""

from __future__ import annotations

import os
import pty
import re
import select
import time
import typing as t

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
URL_LINE = re.compile(r"open this URL in a browser: (\S+?)\"?,?\r?$", re.M)
PASTE_PROMPT = "Paste the full address"


class Person:
    def __init__(
        self,
        sign_in: t.Callable[[str], str],
        answers: t.Mapping[str, str] | None = None,
        echo: t.Callable[[bytes], None] | None = None,
        timeout: float = 240.0,
    ) -> None:
        self.sign_in = sign_in
        self.answers = dict(answers or {})
        self.echo = echo
        self.timeout = timeout
        self.answered: set[str] = set()
        self.pasted = False
        self.timed_out = False

    @staticmethod
    def type_in(fd: int, answer: str) -> None:
        # pause flushes input that arrives before it has set up the terminal: wait like a person.
        time.sleep(1.0)
        os.write(fd, answer.encode() + b"\r")

    def run(self, command: list[str], output: t.BinaryIO | None = None, env: dict[str, str] | None = None) -> int:
        pid, fd = pty.fork()
        if pid == 0:
            os.environ.update(env or {})
            os.environ["ANSIBLE_NOCOLOR"] = "1"
            os.execvp(command[0], command)
        seen = b""
        deadline = time.monotonic() + self.timeout
        while True:
            if time.monotonic() >= deadline:
                self.timed_out = True
                os.kill(pid, 9)
                break
            ready, _w, _x = select.select([fd], [], [], 0.5)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            if output is not None:
                output.write(chunk)
                output.flush()
            if self.echo is not None:
                self.echo(chunk)
            seen += chunk
            self._react(fd, ANSI.sub("", seen.decode("utf-8", "replace")))
        os.close(fd)
        _pid, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status)

    def _react(self, fd: int, text: str) -> None:
        if not text.rstrip().endswith(":"):
            return
        tail = text[-400:]
        for prompt, answer in self.answers.items():
            if prompt in tail and prompt not in self.answered:
                self.answered.add(prompt)
                self.type_in(fd, answer)
                return
        if not self.pasted and PASTE_PROMPT in tail:
            urls = URL_LINE.findall(text)
            if urls:
                self.pasted = True
                self.type_in(fd, self.sign_in(urls[-1]))
