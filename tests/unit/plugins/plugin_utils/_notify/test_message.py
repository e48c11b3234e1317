"""The notification texts: every event in every language from the shipped templates, an operator's templates in
their place, and the template errors (each names the file, none shows a value of the context)."""

from __future__ import annotations

import os
import re

import pytest

from ansible_collections.preauth.oauth2.plugins.plugin_utils._errors import PreauthError
from ansible_collections.preauth.oauth2.plugins.plugin_utils._notify.message import EVENTS, LANGUAGES, TEMPLATES, Message, NotifyError, render, when

INVITATION_URL = "https://consent.example.com/i/FAKE-invitation-token-0123456789"
COMMANDS = {
    "preauthenticate": "ansible-playbook preauth.oauth2.preauthenticate -e preauth_connection=acme-nl",
    "invite": "ansible-playbook preauth.oauth2.invite -e preauth_connection=acme-nl",
    "status": "ansible-playbook preauth.oauth2.status -e preauth_connection=acme-nl",
}
FULL = {
    "connection": "acme-nl",
    "platform": "exact",
    "platform_title": "Exact Online",
    "country": "NL",
    "event": "dead",
    "reason": "Old refresh token used.",
    "since": "2026-03-01T10:00:00+00:00",
    "expires_at": "2026-03-08T09:30:00Z",
    "days_left": 5,
    "failures": 3,
    "reminder": False,
    "invitation_url": INVITATION_URL,
    "invitation_expires_at": "2026-03-15T10:00:00Z",
    "operator": {"company": "Acme Boekhouding BV", "contact": "it@acme.example"},
    "consenter": {"first_name": "Jan", "last_name": "de Vries", "email": "jan@klant.example"},
    "commands": COMMANDS,
}
# What a context may leave empty.
BARE = dict(
    FULL,
    platform_title=None,
    country=None,
    reason=None,
    expires_at=None,
    days_left=None,
    invitation_url=None,
    invitation_expires_at=None,
    operator={},
    consenter={},
    commands={},
)
CASES = [(event, language) for event in EVENTS for language in LANGUAGES]


def operator_template(root, language: str, event: str, text: str) -> str:
    folder = root / language
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (event + ".txt")
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_every_event_has_a_shipped_template_in_every_language():
    for event, language in CASES:
        assert os.path.isfile(os.path.join(TEMPLATES, language, event + ".txt")), (event, language)


@pytest.mark.parametrize("event,language", CASES)
def test_every_event_and_language_renders_a_full_context(event, language):
    message = render(event, FULL, language)
    assert isinstance(message, Message) and (message.event, message.language) == (event, language)
    assert message.subject and "\n" not in message.subject and message.subject == message.subject.strip()
    assert "acme-nl" in message.subject and "Exact Online" in message.subject
    assert "acme-nl" in message.text and "Exact Online (NL)" in message.text
    assert message.text.endswith("\n") and not message.text.startswith("\n")
    # Nothing of the template's syntax and no Python value left over, no lines run together.
    for leftover in ("{{", "}}", "{%", "None", "True", "False"):
        assert leftover not in message.subject + message.text, leftover
    assert "\n\n\n" not in message.text
    if event in ("dead", "expiring", "invitation"):
        assert "\n    %s\n" % INVITATION_URL in message.text
        assert "15 " + ("March" if language == "en" else "maart") + " 2026" in message.text
    else:
        assert INVITATION_URL not in message.text
    if event == "dead":
        assert "Old refresh token used." in message.text and COMMANDS["preauthenticate"] in message.text
    if event == "failing":
        assert COMMANDS["status"] in message.text and " 3 " in message.subject


@pytest.mark.parametrize("event,language", CASES)
def test_every_event_and_language_renders_a_context_without_the_optional_values(event, language):
    context = dict(BARE, invitation_url="https://consent.example.com/i/x") if event == "invitation" else BARE
    message = render(event, context, language)
    assert "acme-nl" in message.subject and "exact" in message.subject
    assert "()" not in message.text and "None" not in message.subject + message.text
    assert "ansible-playbook" not in message.text


@pytest.mark.parametrize("language,prefix", [("en", "Reminder: "), ("nl", "Herinnering: ")])
def test_a_reminder_says_so_in_the_subject(language, prefix):
    for event in ("dead", "expiring", "failing", "invitation"):
        assert render(event, dict(FULL, reminder=True), language).subject.startswith(prefix), event
        assert not render(event, FULL, language).subject.startswith(prefix), event


@pytest.mark.parametrize("event", ["dead", "expiring"])
def test_without_a_link_the_message_says_whom_to_ask_and_the_operator_s_command(event):
    en = render(event, dict(FULL, invitation_url=None, invitation_expires_at=None), "en").text
    assert "Ask it@acme.example to" in en and COMMANDS["preauthenticate"] in en and "link" not in en
    nl = render(event, dict(FULL, invitation_url=None, invitation_expires_at=None), "nl").text
    assert "Vraag it@acme.example om" in nl and COMMANDS["preauthenticate"] in nl and "link" not in nl


def test_the_days_left_and_the_number_of_failures_read_as_words():
    assert render("expiring", dict(FULL, days_left=1), "en").subject.endswith("expires tomorrow")
    assert render("expiring", dict(FULL, days_left=0), "nl").subject.endswith("verloopt vandaag")
    assert render("expiring", dict(FULL, days_left=12), "nl").subject.endswith("verloopt over 12 dagen")
    assert "the last attempt failed" in render("failing", dict(FULL, failures=1), "en").text
    assert "de laatste 4 pogingen zijn achter elkaar mislukt" in render("failing", dict(FULL, failures=4), "nl").text


def test_the_dutch_templates_are_dutch_and_say_u():
    for event in EVENTS:
        text = render(event, dict(FULL, commands={}), "nl")
        words = set(re.findall(r"[a-zà-ÿ]+", (text.subject + " " + text.text).lower()))
        assert "verbinding" in words, event
        assert not words & {"je", "jij", "jouw", "jouwe"}, event
        assert not words & {"the", "connection", "please", "valid", "you"}, event
    assert "u" in set(re.findall(r"[a-z]+", render("dead", FULL, "nl").text))


def test_when_writes_a_time_in_words_in_the_language_in_utc():
    assert when("2026-03-01T10:00:00Z", "en") == "1 March 2026 at 10:00 UTC"
    assert when("2026-03-01T11:30:00+01:00", "nl") == "1 maart 2026 om 10:30 uur (UTC)"
    assert when("soon", "nl") == "soon" and when(None, "en") is None


def test_an_operator_template_replaces_the_shipped_one_of_that_name_only(tmp_path):
    operator_template(tmp_path, "nl", "dead", "Subject: Koppeling {{ connection }} ligt eruit\n\nBel ons: {{ operator.contact }}.\n")
    own = render("dead", FULL, "nl", template_dir=str(tmp_path))
    assert (own.subject, own.text) == ("Koppeling acme-nl ligt eruit", "Bel ons: it@acme.example.\n")
    assert render("recovered", FULL, "nl", template_dir=str(tmp_path)).text == render("recovered", FULL, "nl").text
    assert render("dead", FULL, "en", template_dir=str(tmp_path)).text == render("dead", FULL, "en").text


@pytest.mark.parametrize("subject", ["{{ reason }}", "Problem {{ '\\n' }}Bcc: everyone@example.com", "{{ reason }}\u2028x"])
def test_a_subject_that_renders_to_more_than_one_line_is_refused(tmp_path, subject):
    path = operator_template(tmp_path, "en", "failing", "Subject: %s\n\nbody\n" % subject)
    with pytest.raises(NotifyError) as info:
        render("failing", dict(FULL, reason="broken\nBcc: everyone@example.com"), "en", template_dir=str(tmp_path))
    assert info.value.msg == "template %s: the subject is more than one line once rendered; a line break in a mail header is refused" % path
    assert isinstance(info.value, PreauthError) and "Bcc" not in info.value.msg


def test_a_control_character_in_the_subject_is_refused(tmp_path):
    operator_template(tmp_path, "en", "failing", "Subject: {{ reason }}\n\nbody\n")
    with pytest.raises(NotifyError, match="control character"):
        render("failing", dict(FULL, reason="\x1b[31mred"), "en", template_dir=str(tmp_path))


def test_an_undefined_variable_names_the_file_and_the_line_of_the_file(tmp_path):
    path = operator_template(tmp_path, "en", "dead", "Subject: {{ connection }}\n\nline 3\nline 4 {{ no_such_key }}\n")
    with pytest.raises(NotifyError) as info:
        render("dead", FULL, "en", template_dir=str(tmp_path))
    assert info.value.msg == "template %s, line 4: undefined variable ('no_such_key' is undefined)" % path


def test_an_undefined_key_in_the_subject_names_line_1(tmp_path):
    path = operator_template(tmp_path, "en", "dead", "Subject: {{ operator.phone }}\n\nbody\n")
    with pytest.raises(NotifyError) as info:
        render("dead", FULL, "en", template_dir=str(tmp_path))
    assert info.value.msg == "template %s, line 1: undefined variable ('dict object' has no attribute 'phone')" % path


def test_an_error_never_shows_a_value_of_the_context(tmp_path):
    operator_template(tmp_path, "en", "dead", "Subject: x\n\n{{ operator[invitation_url] }}\n{{ days_left + connection }}\n")
    with pytest.raises(NotifyError) as info:
        render("dead", FULL, "en", template_dir=str(tmp_path))
    assert INVITATION_URL not in info.value.msg and "'(a value)'" in info.value.msg
    operator_template(tmp_path, "en", "dead", "Subject: x\n\n{{ days_left + connection }}\n")
    with pytest.raises(NotifyError) as info:
        render("dead", FULL, "en", template_dir=str(tmp_path))
    assert info.value.msg.endswith(", line 3: error while rendering (TypeError)") and "acme-nl" not in info.value.msg


def test_a_syntax_error_names_the_file_and_its_line(tmp_path):
    path = operator_template(tmp_path, "nl", "expiring", "Subject: ok\n\nline 3\n{% if %}\n")
    with pytest.raises(NotifyError) as info:
        render("expiring", FULL, "nl", template_dir=str(tmp_path))
    assert info.value.msg.startswith("template %s, line 4: syntax error (" % path)


def test_the_sandbox_refuses_python_internals(tmp_path):
    path = operator_template(tmp_path, "en", "recovered", "Subject: ok\n\n{{ ''.__class__.__mro__[1].__subclasses__() }}\n")
    with pytest.raises(NotifyError) as info:
        render("recovered", FULL, "en", template_dir=str(tmp_path))
    assert info.value.msg == "template %s, line 3: an operation the sandbox does not allow" % path


@pytest.mark.parametrize(
    "text,reason",
    [
        ("Hello\n\nbody\n", "has no Subject line"),
        ("Subject: x\nbody right after it\n", "must be followed by one empty line"),
        ("Subject: {{ '' }}\n\nbody\n", "the subject is empty"),
    ],
)
def test_a_template_without_its_subject_line_is_refused(tmp_path, text, reason):
    path = operator_template(tmp_path, "en", "recovered", text)
    with pytest.raises(NotifyError) as info:
        render("recovered", FULL, "en", template_dir=str(tmp_path))
    assert info.value.msg.startswith("template %s" % path) and reason in info.value.msg


def test_a_template_that_is_not_utf8_is_refused(tmp_path):
    path = operator_template(tmp_path, "en", "recovered", "")
    with open(path, "wb") as handle:
        handle.write(b"Subject: caf\xe9\n\nbody\n")
    with pytest.raises(NotifyError, match="template %s is not UTF-8 text" % re.escape(path)):
        render("recovered", FULL, "en", template_dir=str(tmp_path))


def test_unknown_events_and_languages_are_named():
    with pytest.raises(NotifyError, match=r"^unknown notification event 'gone': use one of dead, expiring, failing, recovered, invitation$"):
        render("gone", FULL)
    with pytest.raises(NotifyError, match=r"^unknown notification language 'de': use one of en, nl$"):
        render("dead", FULL, "de")


def test_an_invitation_needs_its_link():
    with pytest.raises(NotifyError, match="an invitation message needs the context's invitation_url"):
        render("invitation", BARE, "en")
