# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The mail server and the texts of the modules that send messages to people (notification, consent_invitation).
    DOCUMENTATION = r"""
options:
  template_dir:
    description:
      - A directory of the operator's own texts, C(<language>/<event>.txt) (events V(dead), V(expiring), V(failing),
        V(recovered), V(invitation)); a file there replaces the shipped one. The first line is C(Subject:) and the subject,
        then an empty line and the body; Jinja2 (sandboxed) with the variables the shipped texts use.
    type: path
  smtp:
    description:
      - The mail server. Without it no e-mail is sent.
    type: dict
    suboptions:
      host:
        description: The SMTP server's name.
        type: str
        required: true
      port:
        description: Its port; by default 587 (V(starttls)), 465 (V(ssl)) or 25 (V(none)).
        type: int
      security:
        description:
          - V(starttls) upgrades the connection with STARTTLS, V(ssl) speaks TLS from the start (SMTPS), V(none) sends in clear
            text (a local relay only; credentials are then refused unless the server is on a loopback address).
        type: str
        default: starttls
        choices: [starttls, ssl, none]
      username:
        description: The user name to log in with, if the server wants one.
        type: str
      password:
        description: Its password; keep it in ansible-vault.
        type: str
      sender:
        description: The From address of the messages.
        type: str
        required: true
      validate_certs:
        description: Verify the server's TLS certificate.
        type: bool
        default: true
      ca_path:
        description: A CA bundle to verify it with.
        type: path
      timeout:
        description: Seconds to wait for the server.
        type: float
        default: 10
"""
