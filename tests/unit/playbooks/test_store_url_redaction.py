"""A database password in a malformed store URL, through real ansible-playbook runs at -vvv: never printed.

(At -vvvv ansible-playbook itself echoes its command line options, extra variables included: docs/security.md says
not to put a password in store_url.)
"""

from __future__ import annotations

import pytest

FAKE_DB_PASSWORD = "FAKE-db-password-in-a-url"


@pytest.mark.parametrize("playbook", ["status", "refresh"])
@pytest.mark.parametrize(
    "url",
    [
        "postgresql://preauth@[::1]x/preauth?password=" + FAKE_DB_PASSWORD,
        "postgresql://preauth:" + FAKE_DB_PASSWORD + "@[::1]x/preauth",
    ],
)
def test_a_password_in_a_malformed_store_url_is_never_printed(ansible_playbook, tmp_path, playbook, url):
    vault = tmp_path / "vault-pw"
    vault.write_text("FAKE-vault-password-for-a-playbook\n")
    connections = [{"name": "acme-nl", "platform": "exact_online", "country": "nl", "client_id": "FAKE-client-id", "client_secret": "FAKE-secret"}]
    done = ansible_playbook(
        playbook, "-vvv", "--vault-password-file", str(vault), extra={"preauth_store_url": url}, inventory={"vars": {"preauth_connections": connections}}
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "the PostgreSQL token store postgresql://preauth@[::1]x/preauth" in output, output[-3000:]
    assert FAKE_DB_PASSWORD not in output
    assert '"postgresql://' not in output  # libpq's quote of the whole URI
