# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The text of a notification: a subject and a plain-text body rendered from a template.

This plugin util is PRIVATE to the collection. It can change at any time without notice.

A template is the file ``templates/<language>/<event>.txt`` beside this module. Its first line is
``Subject: ...``, the second line is empty, the rest is the body. An operator's ``template_dir``
with the same layout (``<template_dir>/<language>/<event>.txt``) replaces the shipped file of that
name when it has one; the other files stay the shipped ones.

Templates are Jinja2 in a sandbox (``SandboxedEnvironment``): no attribute of Python's internals, an
undefined name is an error (``StrictUndefined``), nothing is escaped (the text is plain text, never
HTML), a block tag on a line of its own leaves no empty line (``trim_blocks``, ``lstrip_blocks``).
The subject is rendered on its own and must come out as one line: a value with a line break there
would be a header injection, so it is refused. An error names the template file and the reason
(undefined name, syntax error and its line, no ``Subject:`` line), never a value of the context.

The context a template may use (``render`` adds ``event`` and ``language``; a key that the caller
leaves out of ``operator``, ``consenter`` or ``commands`` reads as none):

- ``connection``: the connection's name (``acme-nl``);
- ``platform``: the platform's name in the platform table (``exact``), ``platform_title`` its human
  name (``Exact Online``) or none;
- ``country``: the country code of the connection (``NL``) or none;
- ``event``: one of ``EVENTS``;
- ``reason``: what the platform or the collection said went wrong, in words (English), or none;
  ``reason_kind``: the same as one word the texts say in their own language, or none (dead: ``refused``,
  ``expired``, ``lost``; expiring: ``refresh_failing``, ``absolute``, ``host_unused``; failing: ``config``,
  ``rate_limited``, ``refused``, ``lost_response``, ``incomplete_answer``); read it with ``| default(none)``;
- ``since``: when the state began, ISO 8601 text;
- ``expires_at``: when the refresh token expires, ISO 8601 text or none; ``days_left``: whole days
  until then (an int) or none;
- ``failures``: how many runs in a row the refresh failed (an int);
- ``reminder``: true when the message repeats one about a state that is still unresolved;
- ``invitation_url``: a consent link for the recipient, or none; ``invitation_expires_at``: until
  when it works, ISO 8601 text or none;
- ``operator``: ``company`` and ``contact`` (a name or address to ask) of who runs the connection;
- ``consenter``: ``first_name``, ``last_name`` and ``email`` of who consented last;
- ``commands``: ``preauthenticate``, ``invite`` and ``status``: the ``ansible-playbook`` command lines
  an operator runs for this connection.

The filter ``when`` writes ISO 8601 text as a date and time in the message's language, in UTC
(``1 March 2026 at 10:00 UTC``, ``1 maart 2026 om 10:00 uur (UTC)``); other text is left as it is.
The context never holds a secret; the invitation link is meant for the recipient.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import re
import traceback
import typing as t

# Jinja2 comes with ansible-core, on every controller.
import jinja2
import jinja2.sandbox

from ansible_collections.preauth.oauth2.plugins.plugin_utils._notify.errors import NotifyError

EVENTS = ("dead", "expiring", "failing", "recovered", "invitation")
LANGUAGES = ("en", "nl")
TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")
# Mappings in the context whose missing keys read as none, so that a template can test any of them.
MAPPINGS = {
    "operator": ("company", "contact"),
    "consenter": ("first_name", "last_name", "email"),
    "commands": ("preauthenticate", "invite", "status"),
}
# A template is text an operator writes, not a data file.
MAX_TEMPLATE = 64 * 1024
_SUBJECT = re.compile(r"Subject:[ \t]*(.*)")
# Everything str.splitlines() breaks a line at: a subject with any of them is more than one line.
_LINE_BREAK = re.compile(r"[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
# Other controls (a terminal escape, a NUL) have no place in a header either.
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1b\x1f\x7f-\x84\x86-\x9f]")
# A name as Jinja2 quotes it in an UndefinedError.
_QUOTED = re.compile(r"'([^']*)'")
# The name Jinja2 gives the code of a template made from a string, in a traceback.
_TEMPLATE_FRAME = "<template>"
MONTHS = {
    "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"),
    "nl": ("januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september", "oktober", "november", "december"),
}
WHEN = {"en": "{day} {month} {year} at {time} UTC", "nl": "{day} {month} {year} om {time} uur (UTC)"}


@dataclasses.dataclass
class Message:
    """A rendered notification: plain text, the subject one line."""

    event: str
    language: str
    subject: str
    text: str


def template_path(event: str, language: str = "en", template_dir: str | None = None) -> str:
    """The file that renders ``event`` in ``language``: the operator's when ``template_dir`` has it, else the shipped one."""
    if event not in EVENTS:
        raise NotifyError("unknown notification event %r: use one of %s" % (event, ", ".join(EVENTS)))
    if language not in LANGUAGES:
        raise NotifyError("unknown notification language %r: use one of %s" % (language, ", ".join(LANGUAGES)))
    name = os.path.join(language, event + ".txt")
    if template_dir:
        own = os.path.join(template_dir, name)
        if os.path.isfile(own):
            return own
    return os.path.join(TEMPLATES, name)


def when(value: t.Any, language: str = "en") -> t.Any:
    """ISO 8601 text as a date and time in words for ``language``, in UTC; anything else unchanged."""
    if not isinstance(value, str):
        return value
    try:
        moment = datetime.datetime.fromisoformat(value.strip())
    except ValueError:
        return value
    if moment.tzinfo is not None:
        moment = moment.astimezone(datetime.timezone.utc)
    shape = WHEN.get(language, WHEN["en"])
    return shape.format(day=moment.day, month=MONTHS.get(language, MONTHS["en"])[moment.month - 1], year=moment.year, time=moment.strftime("%H:%M"))


def _environment(language: str) -> t.Any:
    env = jinja2.sandbox.SandboxedEnvironment(
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = lambda value: when(value, language)
    return env


def _read(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_TEMPLATE + 1)
    except OSError as exc:
        raise NotifyError("template %s cannot be read (%s)" % (path, exc.strerror or type(exc).__name__)) from None
    if len(data) > MAX_TEMPLATE:
        raise NotifyError("template %s is larger than %d KiB" % (path, MAX_TEMPLATE // 1024))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotifyError("template %s is not UTF-8 text (byte %d)" % (path, exc.start)) from None


def _split(path: str, source: str) -> tuple[str, str]:
    """The subject template and the body template of a file: ``Subject: ...``, one empty line, the body."""
    lines = source.split("\n", 2)
    first = lines[0].rstrip("\r").lstrip("\ufeff")
    found = _SUBJECT.fullmatch(first)
    if found is None:
        raise NotifyError("template %s has no Subject line: its first line must be 'Subject: ...', then one empty line, then the body" % path)
    if len(lines) < 2 or lines[1].strip():
        raise NotifyError("template %s: the Subject line must be followed by one empty line, then the body" % path)
    return found.group(1), lines[2] if len(lines) > 2 else ""


def _template_line(exc: BaseException) -> int | None:
    """The line of the template a render error happened on, from the traceback Jinja2 rewrites to the template's lines."""
    lines = [frame.lineno for frame in traceback.extract_tb(exc.__traceback__) if frame.filename == _TEMPLATE_FRAME]
    return lines[-1] if lines and lines[-1] else None


def _render_part(env: t.Any, path: str, source: str, first_line: int, context: t.Mapping[str, t.Any]) -> str:
    """Render one part of a template file; ``first_line`` is the file's line the part starts on, for the messages."""
    try:
        template = env.from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        # The reason is Jinja2's own, about the template's text; it holds no context value.
        raise NotifyError("template %s, line %d: syntax error (%s)" % (path, (exc.lineno or 1) + first_line - 1, exc.message)) from None
    try:
        return str(template.render(context))
    except jinja2.UndefinedError as exc:
        # StrictUndefined names the variable or attribute ("'foo' is undefined", "'dict object' has no attribute 'x'"); a key
        # looked up by a value ({{ operator[connection] }}) would name that value, so the context's texts are hidden.
        reason = "undefined variable (%s)" % _names_only(str(exc.message), context)
        line = _template_line(exc)
    except jinja2.sandbox.SecurityError as exc:
        reason = "an operation the sandbox does not allow"
        line = _template_line(exc)
    # A template can raise anything, and the exception's text may hold a value: only its type is named.
    except Exception as exc:  # pylint: disable=broad-exception-caught
        reason = "error while rendering (%s)" % type(exc).__name__
        line = _template_line(exc)
    where = ", line %d" % (line + first_line - 1) if line is not None else ""
    raise NotifyError("template %s%s: %s" % (path, where, reason))


def _names_only(reason: str, context: t.Mapping[str, t.Any]) -> str:
    """Jinja2's reason with each quoted name that is one of the context's text values (also inside its mappings) hidden."""
    texts = {value for value in context.values() if isinstance(value, str)}
    for mapping in context.values():
        if isinstance(mapping, t.Mapping):
            texts.update(value for value in mapping.values() if isinstance(value, str))
    return _QUOTED.sub(lambda found: "'(a value)'" if found.group(1) in texts else found.group(0), reason)


def _context(event: str, language: str, context: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    values = dict(context)
    for key, fields in MAPPINGS.items():
        given = values.get(key) or {}
        if not isinstance(given, t.Mapping):
            raise NotifyError("the notification context's %s must be a mapping, not %s" % (key, type(given).__name__))
        values[key] = {field: None for field in fields} | dict(given)
    values["event"] = event
    values["language"] = language
    return values


def render(event: str, context: t.Mapping[str, t.Any], language: str = "en", template_dir: str | None = None) -> Message:
    """The message for ``event`` in ``language`` with the values of ``context`` (the module's docstring lists them).

    Raises ``NotifyError`` naming the template file: unknown event or language, no Subject line, a
    syntax error (with its line), an undefined variable, a subject that is empty or not one line.
    """
    path = template_path(event, language, template_dir)
    subject_source, body_source = _split(path, _read(path))
    if event == "invitation" and not context.get("invitation_url"):
        raise NotifyError("template %s: an invitation message needs the context's invitation_url" % path)
    env = _environment(language)
    values = _context(event, language, context)
    subject = _render_part(env, path, subject_source, 1, values).strip()
    if _LINE_BREAK.search(subject):
        raise NotifyError("template %s: the subject is more than one line once rendered; a line break in a mail header is refused" % path)
    if _CONTROL.search(subject):
        raise NotifyError("template %s: the subject holds a control character once rendered; it is refused in a mail header" % path)
    if not subject:
        raise NotifyError("template %s: the subject is empty once rendered" % path)
    text = _render_part(env, path, body_source, 3, values)
    return Message(event=event, language=language, subject=subject, text=text)
