"""The vault-encrypted token store, with real ansible-vault secrets and real files."""

from __future__ import annotations

import binascii
import hashlib
import json
import multiprocessing
import os
import pwd
import shutil
import stat
import subprocess

import pytest
from ansible.parsing.vault import VaultLib, VaultSecret

from ansible_collections.preauth.oauth2.plugins.plugin_utils._errors import StoreError
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.file import FileTokenStore
from helpers import ansible_command

FAKE_TOKEN = "FAKE-refresh-token-0a1b2c"
PASSWORD = b"FAKE-vault-password-for-tests"


def vault(*pairs: tuple[str, bytes]) -> VaultLib:
    return VaultLib([(vid, VaultSecret(pw)) for vid, pw in pairs] or [("default", VaultSecret(PASSWORD))])


def write(store: FileTokenStore, connection: str, **fields) -> None:
    with store.locked(connection) as record:
        record.data.update(fields)


@pytest.fixture
def store(tmp_path) -> FileTokenStore:
    return FileTokenStore(str(tmp_path / "tokens"), vault())


def test_round_trip_with_modes_and_vault_header(store):
    write(store, "acme-nl", generation=1, tokens={"refresh_token": FAKE_TOKEN})
    path = store.path("acme-nl")
    raw = open(path, "rb").read()
    assert raw.startswith(b"$ANSIBLE_VAULT;1.1;AES256")
    assert FAKE_TOKEN.encode() not in raw
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(store.store_dir).st_mode) == 0o700
    record = store.read("acme-nl")
    assert record.data["tokens"]["refresh_token"] == FAKE_TOKEN
    assert record.data["generation"] == 1 and record.data["schema"] == 1
    assert store.connections() == ["acme-nl"]
    assert sorted(os.listdir(store.store_dir)) == [".acme-nl.index", ".acme-nl.lock", ".home", "acme-nl.yml"]
    assert stat.S_IMODE(os.stat(store.index_path("acme-nl")).st_mode) == 0o600


def test_ansible_vault_view_shows_the_store_to_a_person_with_the_password(store, tmp_path):
    write(store, "acme-nl", generation=2)
    password_file = tmp_path / "pw"
    password_file.write_bytes(PASSWORD)
    view = subprocess.run(
        [ansible_command("ansible-vault"), "view", "--vault-password-file", str(password_file), store.path("acme-nl")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "connection: acme-nl" in view.stdout and "generation: 2" in view.stdout


def test_unchanged_content_writes_nothing(store):
    write(store, "acme-nl", generation=1)
    path = store.path("acme-nl")
    before = os.stat(path)
    content = open(path, "rb").read()
    with store.locked("acme-nl") as record:
        record.data["generation"] = 1
        assert not record.changed
    assert open(path, "rb").read() == content
    assert os.stat(path).st_ino == before.st_ino


def test_the_files_vault_id_is_kept(tmp_path):
    two = vault(("dev", b"FAKE-dev-password"), ("prod", b"FAKE-prod-password"))
    store = FileTokenStore(str(tmp_path), two, encrypt_vault_id="prod")
    write(store, "acme", generation=1)
    assert open(store.path("acme"), "rb").read().startswith(b"$ANSIBLE_VAULT;1.2;AES256;prod")
    # Another run that would choose "dev" for new files still keeps the file's own id.
    other = FileTokenStore(str(tmp_path), two, encrypt_vault_id="dev")
    write(other, "acme", generation=2)
    assert open(store.path("acme"), "rb").read().startswith(b"$ANSIBLE_VAULT;1.2;AES256;prod")


def vault_parts(raw: bytes) -> tuple[bytes, list[bytes]]:
    """A vault file's header line and its payload's three lines (salt, HMAC, ciphertext; each hex)."""
    header, _newline, body = raw.partition(b"\n")
    return header, binascii.unhexlify(b"".join(body.split())).split(b"\n")


def vault_file(header: bytes, parts: list[bytes]) -> bytes:
    return header + b"\n" + binascii.hexlify(b"\n".join(parts)) + b"\n"


def tampered(raw: bytes) -> bytes:
    """The ciphertext changed in one hex digit: still vault data, but no password passes its HMAC."""
    header, parts = vault_parts(raw)
    digit = parts[2][:1]
    parts[2] = (b"1" if digit != b"1" else b"2") + parts[2][1:]
    return vault_file(header, parts)


def broken_hex(raw: bytes) -> bytes:
    header, parts = vault_parts(raw)
    parts[2] = b"zz" + parts[2][2:]
    return vault_file(header, parts)


def unknown_cipher(raw: bytes) -> bytes:
    return raw.replace(b"$ANSIBLE_VAULT;1.1;AES256", b"$ANSIBLE_VAULT;1.1;AES512", 1)


def no_payload(raw: bytes) -> bytes:
    return raw.partition(b"\n")[0] + b"\n"


CANNOT_DECRYPT = r"cannot decrypt the token store .*acme.yml with the vault secrets of this run; use the vault password"
DAMAGED = r"the token store .*acme.yml is damaged \(not valid ansible-vault data\); nothing was changed\. Restore it from a backup"


@pytest.mark.parametrize(
    ("change", "expected"),
    [(tampered, CANNOT_DECRYPT), (broken_hex, DAMAGED), (unknown_cipher, DAMAGED), (no_payload, DAMAGED)],
    ids=["changed-ciphertext", "broken-hex", "unknown-cipher", "no-payload"],
)
def test_the_vaults_failures_are_told_apart_by_type_and_change_nothing(store, change, expected):
    """ansible-core's exception classes, not its messages: AnsibleVaultError (no secret passes the HMAC) against
    AnsibleVaultFormatError (not vault data), and a cipher VaultLib does not know is damage too."""
    write(store, "acme", generation=1, tokens={"refresh_token": FAKE_TOKEN})
    changed = change(open(store.path("acme"), "rb").read())
    with open(store.path("acme"), "wb") as handle:
        handle.write(changed)
    with pytest.raises(StoreError, match=expected) as info:
        store.read("acme")
    assert FAKE_TOKEN not in str(info.value)
    with pytest.raises(StoreError, match=expected):
        write(store, "acme", generation=5)
    assert open(store.path("acme"), "rb").read() == changed


def test_several_vault_ids_need_a_choice(tmp_path):
    store = FileTokenStore(str(tmp_path), vault(("dev", b"FAKE-1"), ("prod", b"FAKE-2")))
    with pytest.raises(StoreError, match=r"several vault identities are loaded \(dev, prod\); choose the one .* with the vault_id option"):
        write(store, "acme", generation=1)
    assert not os.path.exists(store.path("acme"))
    missing = FileTokenStore(str(tmp_path), vault(("dev", b"FAKE-1")), encrypt_vault_id="prod")
    with pytest.raises(StoreError, match=r"vault id 'prod' is not loaded in this run"):
        write(missing, "acme", generation=1)


def test_wrong_password_is_a_clear_error_and_changes_nothing(store, tmp_path):
    write(store, "acme", generation=1)
    content = open(store.path("acme"), "rb").read()
    wrong = FileTokenStore(store.store_dir, vault(("default", b"FAKE-wrong-password")))
    with pytest.raises(StoreError, match=r"cannot decrypt the token store .*acme.yml with the vault secrets of this run; use the vault password"):
        wrong.read("acme")
    with pytest.raises(StoreError):
        write(wrong, "acme", generation=5)
    assert open(store.path("acme"), "rb").read() == content


def test_no_vault_secret_is_a_clear_error(store):
    write(store, "acme", generation=1)
    none = FileTokenStore(store.store_dir, VaultLib([]))
    with pytest.raises(StoreError, match=r"this run has no vault secret; run ansible-playbook with --ask-vault-pass"):
        none.read("acme")
    with pytest.raises(StoreError, match=r"no vault secret is loaded"):
        write(none, "fresh", generation=1)


def test_a_plaintext_file_is_refused_and_left_alone(store):
    os.makedirs(store.store_dir, exist_ok=True)
    path = store.path("acme")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("schema: 1\nconnection: acme\n")
    with pytest.raises(StoreError, match=r"is not an ansible-vault encrypted file, so it is not used as the token store of connection acme"):
        write(store, "acme", generation=1)
    assert open(path, encoding="utf-8").read() == "schema: 1\nconnection: acme\n"


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_a_damaged_file_is_refused_without_being_overwritten(store, damage):
    write(store, "acme", generation=1, tokens={"refresh_token": FAKE_TOKEN})
    path = store.path("acme")
    raw = open(path, "rb").read()
    if damage == "truncate":
        broken = raw[: len(raw) // 2]
    else:
        lines = raw.split(b"\n")
        lines[3] = lines[3][:10] + (b"0" if lines[3][10:11] != b"0" else b"1") + lines[3][11:]
        broken = b"\n".join(lines)
    open(path, "wb").write(broken)
    with pytest.raises(StoreError) as excinfo:
        write(store, "acme", generation=2)
    assert "Nothing was changed" in str(excinfo.value) or "nothing was changed" in str(excinfo.value)
    assert open(path, "rb").read() == broken


def test_a_file_of_another_connection_is_refused(store):
    write(store, "acme", generation=1)
    os.replace(store.path("acme"), store.path("other"))
    with pytest.raises(StoreError, match=r"does not hold the store of connection other"):
        store.read("other")


def test_temporary_files_hold_only_ciphertext(store, monkeypatch):
    seen = []
    real_replace = os.replace

    def spy(src, dst):
        seen.append((os.path.basename(dst), open(src, "rb").read()))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    write(store, "acme", tokens={"refresh_token": FAKE_TOKEN})
    # The first write also records the store's home (_home.py: plaintext JSON that holds no secret) the same way.
    assert [name for name, _content in seen] == [".home", "acme.yml", ".acme.index"]
    assert seen[1][1].startswith(b"$ANSIBLE_VAULT") and all(FAKE_TOKEN.encode() not in content for _name, content in seen)
    assert [n for n in os.listdir(store.store_dir) if n.endswith(".tmp")] == []


def test_a_failed_write_keeps_the_previous_content(store, monkeypatch):
    write(store, "acme", generation=1)
    content = open(store.path("acme"), "rb").read()

    def refuse(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(StoreError, match=r"could not write the token store .* \(No space left on device\); the previous content is unchanged"):
        write(store, "acme", generation=2)
    assert open(store.path("acme"), "rb").read() == content
    assert [n for n in os.listdir(store.store_dir) if n.endswith(".tmp")] == []


def test_nothing_is_written_when_the_work_inside_the_lock_fails(store):
    write(store, "acme", generation=1)
    with pytest.raises(RuntimeError):
        with store.locked("acme") as record:
            record.data["generation"] = 99
            raise RuntimeError("token endpoint failed")
    assert store.read("acme").data["generation"] == 1


@pytest.mark.parametrize("name", ["", ".hidden", "..", "a/b", "white space", "x" * 129, "ü"])
def test_connection_names_are_checked(store, name):
    with pytest.raises(StoreError, match=r"is not valid: use 1 to 128 letters, digits"):
        store.path(name)


def _increment(store_dir: str, rounds: int) -> None:
    store = FileTokenStore(store_dir, vault())
    for _round in range(rounds):
        with store.locked("shared") as record:
            record.data["counter"] = record.data.get("counter", 0) + 1


def test_concurrent_writers_are_serialised(store):
    write(store, "shared", counter=0)
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_increment, args=(store.store_dir, 15)) for _worker in range(6)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    assert store.read("shared").data["counter"] == 90


def test_a_held_lock_times_out_with_a_message(store):
    write(store, "acme", generation=1)
    impatient = FileTokenStore(store.store_dir, vault(), lock_timeout=0.3)
    with store.locked("acme"):
        with pytest.raises(StoreError, match=r"connection acme is locked by another run for more than 0 s"):
            with impatient.locked("acme"):
                pass


def test_a_loose_store_directory_is_tightened(tmp_path):
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    os.chmod(loose, 0o755)
    write(FileTokenStore(str(loose), vault()), "acme", generation=1)
    assert stat.S_IMODE(os.stat(loose).st_mode) == 0o700


def test_a_temporary_file_left_by_a_killed_writer_is_reused_by_the_next_write(store):
    write(store, "acme", generation=1)
    leftover = os.path.join(store.store_dir, ".acme~write.tmp")
    other = os.path.join(store.store_dir, ".acme.x~write.tmp")  # another connection's, named acme.x
    for name in (leftover, other):
        with open(name, "wb") as handle:
            handle.write(b"$ANSIBLE_VAULT;1.1;AES256\n" + b"3132" * 5000)
    write(store, "acme", generation=2)
    assert not os.path.exists(leftover) and os.path.exists(other)
    assert store.read("acme").data["generation"] == 2


# -- a store nobody else can change: owner, mode, links --------------------------------------

IS_ROOT = os.geteuid() == 0
try:
    NOBODY = pwd.getpwnam("nobody")
except KeyError:
    NOBODY = None
needs_nobody = pytest.mark.skipif(not IS_ROOT or NOBODY is None, reason="needs root and the user nobody to make files another user owns (CI runs as root)")
ME = pwd.getpwuid(os.geteuid()).pw_name


def test_a_connection_name_with_a_trailing_newline_is_refused_and_never_listed(store):
    with pytest.raises(StoreError, match=r"connection name 'acme\\n' is not valid"):
        store.path("acme\n")
    write(store, "acme", generation=1)
    open(os.path.join(store.store_dir, "acme\n.yml"), "wb").close()
    assert store.connections() == ["acme"]


@needs_nobody
@pytest.mark.parametrize("mode", [0o777, 0o700])
def test_a_store_directory_another_user_owns_is_refused(tmp_path, mode):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, mode)
    os.chown(shared, NOBODY.pw_uid, NOBODY.pw_gid)
    store = FileTokenStore(str(shared), vault())
    expected = (
        "the token store directory %s is owned by nobody (uid %d), not by %s (uid %d) who runs this, so it is not used; nothing was "
        "changed. Use a directory of your own instead, and copy into it only what you have checked" % (shared, NOBODY.pw_uid, ME, os.geteuid())
    )
    for attempt in (lambda: write(store, "acme", generation=1), lambda: store.read("acme"), store.connections):
        with pytest.raises(StoreError) as info:
            attempt()
        assert str(info.value) == expected
    assert stat.S_IMODE(os.stat(shared).st_mode) == mode and os.listdir(shared) == []


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o1777, 0o720])
def test_a_store_directory_others_can_write_to_is_refused(tmp_path, mode):
    loose = tmp_path / "loose"
    loose.mkdir()
    os.chmod(loose, mode)
    store = FileTokenStore(str(loose), vault())
    with pytest.raises(StoreError) as info:
        write(store, "acme", generation=1)
    assert str(info.value) == (
        "group or others can write to the token store directory %s (mode %04o), so it is not trusted; nothing was changed. Check what "
        "it holds, then restrict it: chmod 0700 %s" % (loose, mode, loose)
    )
    assert stat.S_IMODE(os.stat(loose).st_mode) == mode and os.listdir(loose) == []


def test_a_store_written_earlier_is_not_read_once_its_directory_is_open_to_others(store):
    write(store, "acme", generation=1, tokens={"refresh_token": FAKE_TOKEN})
    content = open(store.path("acme"), "rb").read()
    os.chmod(store.store_dir, 0o777)
    with pytest.raises(StoreError, match=r"group or others can write to the token store directory .* \(mode 0777\)"):
        store.read("acme")
    assert store.index("acme") is None
    os.chmod(store.store_dir, 0o700)
    assert store.read("acme").data["tokens"]["refresh_token"] == FAKE_TOKEN and open(store.path("acme"), "rb").read() == content


@needs_nobody
@pytest.mark.parametrize("which", ["store", "lock"])
def test_a_store_or_lock_file_another_user_owns_is_refused(store, which):
    write(store, "acme", generation=1)
    content = open(store.path("acme"), "rb").read()
    path = store.path("acme") if which == "store" else store.lock_path("acme")
    os.chown(path, NOBODY.pw_uid, NOBODY.pw_gid)
    what = "token store" if which == "store" else "lock file"
    with pytest.raises(StoreError) as info:
        write(store, "acme", generation=2)
    assert str(info.value).startswith("the %s %s is owned by nobody (uid %d), not by %s" % (what, path, NOBODY.pw_uid, ME))
    assert open(store.path("acme"), "rb").read() == content


def test_a_store_file_others_can_write_to_is_refused(store):
    write(store, "acme", generation=1)
    os.chmod(store.path("acme"), 0o666)
    with pytest.raises(StoreError) as info:
        store.read("acme")
    assert str(info.value) == (
        "group or others can write to the token store %s (mode 0666), so it is not trusted; nothing was changed. Check what it "
        "holds, then restrict it: chmod 0600 %s" % (store.path("acme"), store.path("acme"))
    )


@pytest.mark.parametrize("which", ["store", "lock"])
def test_a_symbolic_link_in_place_of_the_store_or_lock_file_is_not_followed(store, tmp_path, which):
    write(store, "acme", generation=1)
    victim = tmp_path / "victim"
    victim.write_bytes(b"FAKE-victim-content")
    path = store.path("acme") if which == "store" else store.lock_path("acme")
    os.replace(path, str(tmp_path / "moved"))
    os.symlink(victim, path)
    what = "token store" if which == "store" else "lock file"
    with pytest.raises(StoreError) as info:
        write(store, "acme", generation=2)
    assert str(info.value) == (
        "the %s %s is a symbolic link; the token store never follows links (another user could point it anywhere). Replace it "
        "with the file itself; nothing was changed." % (what, path)
    )
    assert victim.read_bytes() == b"FAKE-victim-content" and os.path.islink(path)


def test_a_lock_file_link_to_a_missing_file_creates_nothing(store, tmp_path):
    os.makedirs(store.store_dir, mode=0o700)
    planted = tmp_path / "planted-by-link"
    os.symlink(planted, store.lock_path("acme"))
    with pytest.raises(StoreError, match=r"is a symbolic link; the token store never follows links"):
        write(store, "acme", generation=1)
    assert not planted.exists()


@pytest.mark.parametrize("tmp_name", [".acme~write.tmp", ".acme~index.tmp"])
@pytest.mark.parametrize("kind", ["hard link", "symbolic link"])
def test_a_link_planted_as_a_temporary_file_is_never_written_through(store, tmp_path, tmp_name, kind):
    write(store, "acme", generation=1)
    victim = tmp_path / "victim"
    victim.write_bytes(b"FAKE-victim-content")
    (os.link if kind == "hard link" else os.symlink)(victim, os.path.join(store.store_dir, tmp_name))
    write(store, "acme", generation=2, tokens={"refresh_token": FAKE_TOKEN})
    assert victim.read_bytes() == b"FAKE-victim-content"
    assert store.read("acme").data["generation"] == 2 and store.index("acme") is not None
    assert [n for n in os.listdir(store.store_dir) if n.endswith(".tmp")] == []


def test_an_index_reached_through_a_symbolic_link_is_not_believed(store, tmp_path):
    write(store, "acme", generation=1)
    assert store.index("acme") is not None
    elsewhere = tmp_path / "index-elsewhere"
    os.replace(store.index_path("acme"), str(elsewhere))
    os.symlink(elsewhere, store.index_path("acme"))
    assert store.index("acme") is None
    write(store, "acme", generation=2)  # the next write puts a file of its own in place of the link
    assert not os.path.islink(store.index_path("acme")) and store.index("acme")["generation"] == 2


# -- the index: what a no-op may read instead of decrypting --------------------------------

FAKE_VALUES = {
    "refresh_token": FAKE_TOKEN,
    "access_token": "FAKE-access-token-5d6e7f",
    "code_verifier": "FAKE-code-verifier-8a9b0c",
    "state": "FAKE-state-1d2e3f",
    "client_secret": "FAKE-client-secret-4a5b6c",
}


def chain(store: FileTokenStore, connection: str = "acme", **fields) -> None:
    """A store with every kind of value the collection keeps, fake secrets included."""
    write(
        store,
        connection,
        generation=3,
        owner={"kind": "controller"},
        definition={"platform": "generic", "client_id": "FAKE-client-id", "country": None, "token_url": "https://idp.example.test/token"},
        tokens={
            "access_token": FAKE_VALUES["access_token"],
            "refresh_token": FAKE_VALUES["refresh_token"],
            "obtained_at": 1795000000.0,
            "access_expires_at": 1795003600.0,
            "refresh_expires_at": None,
            "refresh_fingerprint": "0a1b2c3d4e5f",
            "last_refresh_at": 1795000000.0,
        },
        pending={"state": FAKE_VALUES["state"], "code_verifier": FAKE_VALUES["code_verifier"], "expires_at": 1795000900.0},
        preauthenticated_by={"first_name": "Ada", "email": "ada@example.test", "note": FAKE_VALUES["client_secret"]},
        **fields,
    )


def index_bytes(store: FileTokenStore, connection: str = "acme") -> bytes:
    return open(store.index_path(connection), "rb").read()


def rewrite_index(store: FileTokenStore, change, connection: str = "acme") -> None:
    body = json.loads(index_bytes(store, connection))
    change(body)
    open(store.index_path(connection), "w", encoding="utf-8").write(json.dumps(body))


def test_every_write_leaves_an_index_of_the_decision_inputs_and_no_secret(store):
    chain(store)
    raw = index_bytes(store)
    for name, value in FAKE_VALUES.items():
        assert value.encode() not in raw, name
    body = json.loads(raw)
    assert sorted(body) == [
        "chain",
        "connection",
        "definition",
        "format",
        "generation",
        "in_flight",
        "mac",
        "notice",
        "owner",
        "reauthorization_required",
        "store",
        "tokens",
        "vault_id",
    ]
    assert body["tokens"] == {
        "obtained_at": 1795000000.0,
        "access_expires_at": 1795003600.0,
        "refresh_expires_at": None,
        "refresh_fingerprint": "0a1b2c3d4e5f",
        "last_refresh_at": 1795000000.0,
    }
    assert (body["chain"], body["in_flight"], body["reauthorization_required"], body["generation"]) == (True, False, False, 3)
    assert body["notice"] == {"failures": 0, "state": None, "sent_at": None, "reminded_at": None, "open": False}
    content = open(store.path("acme"), "rb").read()
    assert body["store"]["sha256"] == hashlib.sha256(content).hexdigest() and body["store"]["size"] == len(content)
    assert body["store"]["mtime_ns"] == os.stat(store.path("acme")).st_mtime_ns
    assert store.index("acme") == {k: v for k, v in body.items() if k != "mac"}
    with store.locked("acme") as record:
        record.data["in_flight"] = {"fingerprint": "0a1b2c3d4e5f", "started_at": 1795000100.0}
    assert store.index("acme")["in_flight"] is True


def test_an_index_is_not_believed_once_another_writer_rewrote_the_store(store):
    chain(store)
    path = store.path("acme")
    plaintext = store.vault.decrypt(open(path, "rb").read())
    open(path, "wb").write(store.vault.encrypt(plaintext.replace(b"access_expires_at: 1795003600.0", b"access_expires_at: 1795000001.0")))
    assert store.index("acme") is None
    assert store.read("acme").data["tokens"]["access_expires_at"] == 1795000001.0


@pytest.mark.parametrize("field", ["access_expires_at", "refresh_expires_at", "in_flight", "reauthorization_required", "owner"])
def test_an_index_edited_to_say_not_due_is_not_believed(store, field):
    chain(store)

    def edit(body):
        if field in ("access_expires_at", "refresh_expires_at"):
            body["tokens"][field] = 4102444800.0
        elif field == "owner":
            body["owner"] = {"kind": "host", "host": "elsewhere"}
        else:
            body[field] = not body[field]

    rewrite_index(store, edit)
    assert store.index("acme") is None


def test_an_index_of_another_connection_or_another_directory_is_not_believed(store, tmp_path):
    chain(store, "acme")
    chain(store, "other")
    shutil.copyfile(store.index_path("other"), store.index_path("acme"))
    assert store.index("acme") is None
    # The pair of another directory, copied with its times: describes those bytes, but not under this key.
    elsewhere = FileTokenStore(str(tmp_path / "elsewhere"), vault())
    chain(elsewhere, "acme")
    shutil.copy2(elsewhere.path("acme"), store.path("acme"))
    shutil.copy2(elsewhere.index_path("acme"), store.index_path("acme"))
    assert store.index("acme") is None
    assert elsewhere.index("acme") is not None


def test_an_index_needs_the_vault_secret_the_store_was_written_with(store):
    chain(store)
    assert FileTokenStore(store.store_dir, vault(("default", b"FAKE-another-password"))).index("acme") is None
    assert FileTokenStore(store.store_dir, vault(("other", PASSWORD))).index("acme") is None
    assert FileTokenStore(store.store_dir, VaultLib([])).index("acme") is None
    assert FileTokenStore(store.store_dir, vault()).index("acme") is not None


@pytest.mark.parametrize("damage", ["missing", "empty", "not json", "a list", "too large", "deeply nested", "store touched", "store missing"])
def test_a_missing_or_damaged_index_or_a_touched_store_gives_no_index(store, damage):
    chain(store)
    path = store.index_path("acme")
    if damage == "missing":
        os.unlink(path)
    elif damage == "store touched":
        os.utime(store.path("acme"), ns=(0, os.stat(store.path("acme")).st_mtime_ns + 1))
    elif damage == "store missing":
        os.unlink(store.path("acme"))
    else:
        content = {
            "empty": b"",
            "not json": b"{format: 1",
            "a list": b"[1]",
            "too large": index_bytes(store)[:-2] + b"," + b'"x":"' + b"y" * 20000 + b'"}',
            "deeply nested": b"[" * 5000 + b"]" * 5000,
        }[damage]
        open(path, "wb").write(content)
    assert store.index("acme") is None


def test_a_lost_index_write_leaves_a_mismatch_that_the_next_locked_run_repairs(store, monkeypatch):
    chain(store)
    real_replace = os.replace

    def crash_before_the_index(src, dst):
        if dst.endswith(".index"):
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash_before_the_index)
    write(store, "acme", generation=4)  # the store is written; the index still describes generation 3
    assert store.read("acme").data["generation"] == 4
    assert store.index("acme") is None
    assert [n for n in os.listdir(store.store_dir) if n.endswith(".tmp")] == []
    monkeypatch.setattr(os, "replace", real_replace)
    with store.locked("acme"):
        pass  # nothing to write, but the index is brought up to date under the lock
    assert store.index("acme")["generation"] == 4
    assert store.read("acme").data["generation"] == 4


def test_an_unchanged_store_does_not_rewrite_its_index(store):
    chain(store)
    before = os.stat(store.index_path("acme"))
    with store.locked("acme"):
        pass
    after = os.stat(store.index_path("acme"))
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_a_store_that_the_index_cannot_describe_gets_none(store):
    write(store, "acme", tokens=["not", "a", "mapping"])
    assert not os.path.exists(store.index_path("acme"))
    assert store.index("acme") is None


def _header(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.readline().strip()


def test_the_same_password_under_another_vault_id_label_keeps_the_files_label(tmp_path):
    """--vault-id prod@file with the password of a plain (default id) store must not relabel it, nor flip it back."""
    directory = str(tmp_path / "tokens")
    write(FileTokenStore(directory, vault(("default", PASSWORD))), "acme", generation=1)
    path = os.path.join(directory, "acme.yml")
    assert _header(path) == b"$ANSIBLE_VAULT;1.1;AES256"
    prod = FileTokenStore(directory, vault(("prod", PASSWORD)))
    assert prod.read("acme").data["generation"] == 1
    write(prod, "acme", generation=2)
    assert _header(path) == b"$ANSIBLE_VAULT;1.1;AES256"
    # The default-id cron with vault_id_match still decrypts it: ansible-vault as a person or a cron job runs it.
    password_file = tmp_path / "pw"
    password_file.write_bytes(PASSWORD)
    view = subprocess.run(
        [ansible_command("ansible-vault"), "view", "--vault-id", "default@%s" % password_file, path],
        capture_output=True,
        text=True,
        check=False,
        env=dict(os.environ, ANSIBLE_VAULT_ID_MATCH="true"),
    )
    assert view.returncode == 0, view.stderr
    assert "generation: 2" in view.stdout and FAKE_TOKEN not in view.stdout + view.stderr
    # A label of its own is kept the same way, whichever label of the same password writes.
    write(FileTokenStore(directory, vault(("prod", PASSWORD)), encrypt_vault_id="prod"), "other", generation=1)
    other = os.path.join(directory, "other.yml")
    assert _header(other) == b"$ANSIBLE_VAULT;1.2;AES256;prod"
    write(FileTokenStore(directory, vault(("default", PASSWORD))), "other", generation=2)
    assert _header(other) == b"$ANSIBLE_VAULT;1.2;AES256;prod"
    assert FileTokenStore(directory, vault(("prod", PASSWORD))).read("other").data["generation"] == 2


def test_a_decryption_failure_names_the_file_store_in_its_own_words(tmp_path):
    store = FileTokenStore(str(tmp_path / "tokens"), vault())
    write(store, "acme", generation=1)
    with pytest.raises(StoreError) as info:
        FileTokenStore(store.store_dir, vault(("default", b"FAKE-wrong-password"))).read("acme")
    assert str(info.value) == (
        "cannot decrypt the token store %s with the vault secrets of this run; use the vault password it was written with (ansible-vault "
        "view %s shows it to a person who has it). Nothing was changed." % (store.path("acme"), store.path("acme"))
    )
