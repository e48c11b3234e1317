# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Every text the consent service shows, in English and Dutch: one catalog, one lookup.

This plugin util is PRIVATE to the collection. It can change at any time without notice.

Placeholders are ``str.format`` names; the templates escape the result (values from an invitation
are hostile). A key missing in one language falls back to English, never to the key.
"""

from __future__ import annotations

import typing as t

LANGUAGES = ("en", "nl")
DEFAULT = "en"

CATALOG: dict[str, dict[str, str]] = {
    "en": {
        "lang_name": "English",
        "service": "Consent",
        "switch": "Nederlands",
        "invite_title": "Give {app} access to {platform}",
        "invite_who": "{company} asks you to allow the app {app} to keep access to {platform} ({country}) on their behalf.",
        "invite_contact": "Questions? Contact {contact}.",
        "invite_allows": "What consenting allows",
        "invite_allows_default": "{company}, through the app {app}, may read and change your data in {platform} on your behalf, "
        "also when you are not there, until you or they revoke the access.",
        "invite_how": "Fill in your details, tick the box and continue. You then sign in at {platform} with your own account "
        "and two-step verification; this page never sees your password.",
        "first_name": "First name",
        "last_name": "Last name",
        "job_title": "Job title",
        "email": "Business e-mail",
        "company": "Company",
        "consent": "I allow {app} of {company} to access {platform} with my account as described above.",
        "continue": "Continue to the {platform} sign-in",
        "form_errors": "Please correct the fields marked below.",
        "err_required": "Required.",
        "err_long": "At most {n} characters.",
        "err_email": "Give a business e-mail address such as name@company.com.",
        "err_consent": "Tick the box to consent, or close this window.",
        "err_csrf": "This form has expired. It was reloaded: please submit it again.",
        "success_title": "Thank you: access was granted",
        "success_body": "The platform has given access. You can close this window. You do not need to send anything to anyone.",
        "deny_title": "You declined",
        "deny_body": "No access was given. If that was a mistake, open the link from your invitation again: it still works.",
        "expired_title": "This invitation has expired",
        "expired_body": "Ask the person who sent it for a new invitation link.",
        "used_title": "This invitation was already used",
        "used_body": "Access was already granted with this link. If you did not do this, or you want to connect again, ask the sender for a new invitation.",
        "revoked_title": "This invitation was withdrawn",
        "revoked_body": "The sender withdrew this invitation. Ask them for a new link if you still need to give access.",
        "unknown_title": "This link is not valid",
        "unknown_body": "Check that you opened the whole link from your invitation, or ask the sender for a new one.",
        "platform_title": "Access could not be completed",
        "platform_body": "Something went wrong between this service and the platform; no access was stored.",
        "platform_tell": "Tell the operator who invited you (give this reference: {ref}):",
        "platform_retry": "You can try again later with the same invitation link.",
        "too_late_title": "The sign-in took too long",
        "too_late_body": "The answer of the platform arrived after this attempt had expired. "
        "Open the link from your invitation again and continue within 15 minutes.",
        "relay_title": "Copy this address",
        "relay_body": "You signed in for an ordinary preauthentication. Copy the whole address below and paste it where the preauthentication asks for it, "
        "within the time the platform allows (Exact Online: 3 minutes).",
        "relay_error": "The platform answered with an error: {error}.",
        "rate_title": "Too many requests",
        "rate_body": "Please wait a minute and try again.",
        "large_title": "Request too large",
        "large_body": "The request was larger than this service accepts.",
        "notfound_title": "Page not found",
        "notfound_body": "There is nothing at this address.",
        "error_title": "Something went wrong",
        "error_body": "The service could not finish your request. Try again in a few minutes; "
        "if it keeps failing, tell the sender of your invitation (reference {ref}).",
        "close": "You can close this window.",
    },
    "nl": {
        "lang_name": "Nederlands",
        "service": "Toestemming",
        "switch": "English",
        "invite_title": "Geef {app} toegang tot {platform}",
        "invite_who": "{company} vraagt u de app {app} namens hen blijvend toegang te geven tot {platform} ({country}).",
        "invite_contact": "Vragen? Neem contact op met {contact}.",
        "invite_allows": "Waar u toestemming voor geeft",
        "invite_allows_default": "{company} mag via de app {app} namens u uw gegevens in {platform} lezen en wijzigen, ook als u "
        "er niet bij bent, totdat u of zij de toegang intrekken.",
        "invite_how": "Vul uw gegevens in, vink het vakje aan en ga verder. U logt daarna bij {platform} in met uw eigen account "
        "en tweestapsverificatie; deze pagina ziet uw wachtwoord nooit.",
        "first_name": "Voornaam",
        "last_name": "Achternaam",
        "job_title": "Functie",
        "email": "Zakelijk e-mailadres",
        "company": "Bedrijf",
        "consent": "Ik geef {app} van {company} toegang tot {platform} met mijn account, zoals hierboven beschreven.",
        "continue": "Verder naar het inloggen bij {platform}",
        "form_errors": "Verbeter de gemarkeerde velden.",
        "err_required": "Verplicht.",
        "err_long": "Hoogstens {n} tekens.",
        "err_email": "Geef een zakelijk e-mailadres zoals naam@bedrijf.nl.",
        "err_consent": "Vink het vakje aan om toestemming te geven, of sluit dit venster.",
        "err_csrf": "Dit formulier was verlopen en is opnieuw geladen: verstuur het nogmaals.",
        "success_title": "Dank u: de toegang is gegeven",
        "success_body": "Het platform heeft toegang gegeven. U kunt dit venster sluiten. U hoeft niemand iets te sturen.",
        "deny_title": "U heeft geweigerd",
        "deny_body": "Er is geen toegang gegeven. Was dat een vergissing? Open de link uit uw uitnodiging opnieuw: die werkt nog.",
        "expired_title": "Deze uitnodiging is verlopen",
        "expired_body": "Vraag de afzender om een nieuwe uitnodigingslink.",
        "used_title": "Deze uitnodiging is al gebruikt",
        "used_body": "Met deze link is al toegang gegeven. Heeft u dat niet gedaan, of wilt u opnieuw koppelen? Vraag de afzender om een nieuwe uitnodiging.",
        "revoked_title": "Deze uitnodiging is ingetrokken",
        "revoked_body": "De afzender heeft deze uitnodiging ingetrokken. Vraag om een nieuwe link als u nog toegang moet geven.",
        "unknown_title": "Deze link is niet geldig",
        "unknown_body": "Controleer of u de hele link uit uw uitnodiging heeft geopend, of vraag de afzender om een nieuwe.",
        "platform_title": "De toegang kon niet worden voltooid",
        "platform_body": "Er ging iets mis tussen deze dienst en het platform; er is geen toegang opgeslagen.",
        "platform_tell": "Meld dit aan degene die u uitnodigde (met deze referentie: {ref}):",
        "platform_retry": "U kunt het later opnieuw proberen met dezelfde uitnodigingslink.",
        "too_late_title": "Het inloggen duurde te lang",
        "too_late_body": "Het antwoord van het platform kwam binnen nadat deze poging was verlopen. "
        "Open de link uit uw uitnodiging opnieuw en ga binnen 15 minuten verder.",
        "relay_title": "Kopieer dit adres",
        "relay_body": "U heeft ingelogd voor een gewone preauthenticatie. Kopieer het hele adres hieronder en plak het waar de preauthenticatie erom vraagt, "
        "binnen de tijd die het platform toestaat (Exact Online: 3 minuten).",
        "relay_error": "Het platform antwoordde met een fout: {error}.",
        "rate_title": "Te veel verzoeken",
        "rate_body": "Wacht een minuut en probeer het opnieuw.",
        "large_title": "Verzoek te groot",
        "large_body": "Het verzoek was groter dan deze dienst aanneemt.",
        "notfound_title": "Pagina niet gevonden",
        "notfound_body": "Op dit adres staat niets.",
        "error_title": "Er ging iets mis",
        "error_body": "De dienst kon uw verzoek niet afmaken. Probeer het over een paar minuten opnieuw; blijft het misgaan, meld het dan aan de afzender "
        "van uw uitnodiging (referentie {ref}).",
        "close": "U kunt dit venster sluiten.",
    },
}


def text(lang: str, key: str, **values: t.Any) -> str:
    """The text ``key`` in ``lang`` (English when missing there), filled with ``values``."""
    template = CATALOG.get(lang, CATALOG[DEFAULT]).get(key) or CATALOG[DEFAULT][key]
    return template.format(**values) if values else template


def choose(asked: str | None, cookie: str | None, accept: t.Callable[[t.Sequence[str]], str | None]) -> str:
    """The page language: ``?lang=``, else the cookie, else the best ``Accept-Language`` match, else English."""
    for value in (asked, cookie):
        if value in LANGUAGES:
            return t.cast(str, value)
    return accept(LANGUAGES) or DEFAULT
