"""Helpers for the deploy target: the inventory (two SSH hosts, three connections with real
vault-encrypted client secrets), checks of the files on the hosts and of the stored chains, the
stand-in product that the runner starts, and another host's identity.

Nothing here prints a secret: checks compare fingerprints and report names, modes and owners.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import re
import stat
import sys
import xml.etree.ElementTree as ET

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "preauthenticate"))
from driver import CONTACT, STRICT_SECRET, exact_entry, sealer, store  # noqa: E402

USERS = {"target1": "preauth-svc1", "target2": "preauth-svc2"}
NOTE_SUFFIX = ".not-before"  # the runner's note beside a sealed file: from when the platform accepts the first refresh
SEALED_BASE = "/var/lib/preauth/sealed"  # the role's default: each user's sealed files in <base>/<user>
PRODUCT_ENV = {"PREAUTH_TEST_REGION": 'eu "west" 100%'}  # the service's environment: quoted and escaped in the unit


def inventory(sim: str, work: str) -> None:
    sealed = sealer(work)

    strict = sim + "/strict"
    endpoints = {"authorize": strict + "/authorize", "token": strict + "/token", "revocation": strict + "/revoke", "whoami": strict + "/userinfo"}
    keys = {"client_id": "api-client-id", "client_secret": "api-client-secret", "refresh_token": "api-refresh-token"}
    doc = {
        "all": {
            "hosts": {
                "localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
                "target1": {
                    "preauth_settings_user": USERS["target1"],
                    "preauth_settings_runner_prefix": os.path.join(work, "prefix"),
                    "preauth_settings_service": {"name": "preauth-test-product", "command": ["/usr/bin/env", "true"], "environment": PRODUCT_ENV},
                    "preauth_settings_systemd_unit_dir": os.path.join(work, "units"),
                },
                "target2": {
                    "preauth_settings_user": USERS["target2"],
                    "preauth_settings_seal_method": "hostkey",
                    "preauth_settings_host_key_path": os.path.join(work, "host2", "hostkey"),
                    "preauth_settings_machine_id_path": os.path.join(work, "host2", "machine-id"),
                    "preauth_settings_runner_prefix": os.path.join(work, "prefix"),
                },
            },
            "vars": {
                "preauth_store_dir": os.path.join(work, "tokens"),
                "preauth_contact": CONTACT,
                "preauth_connections": [
                    exact_entry(sim, sealed, hosts=["target1"]),
                    {
                        "name": "gmail",
                        "platform": "google",
                        "client_id": "strict-demo-client",
                        "client_secret": sealed(STRICT_SECRET),
                        "redirect_uri": "https://preauth.example.test/callback",
                        "scopes": ["openid", "offline_access"],
                        "endpoints": endpoints,
                        "hosts": ["target1", "target2"],
                        "invantive": {"provider": "GoogleStandIn", "keys": keys, "alias": "gm"},
                    },
                    {
                        "name": "crm",
                        "platform": "generic",
                        "issuer": strict,
                        "client_id": "strict-demo-client",
                        "client_secret": sealed(STRICT_SECRET),
                        "redirect_uri": "https://preauth.example.test/callback",
                        "scopes": ["openid", "offline_access"],
                        "owner": "controller",
                        "hosts": ["target2"],
                        "invantive": {"provider": "GenericStandIn", "keys": keys, "extra": {"api-region": "eu & <nl>"}},
                    },
                ],
            },
        }
    }
    with open(os.path.join(work, "inventory.yml"), "w", encoding="utf-8") as handle:
        yaml.safe_dump(doc, handle, sort_keys=False)
    host2 = os.path.join(work, "host2")
    os.makedirs(host2, exist_ok=True)
    with open(os.path.join(host2, "machine-id"), "w") as handle:
        handle.write("22222222222222222222222222222222\n")


def folder(host: str) -> str:
    return os.path.join(pwd.getpwnam(USERS[host]).pw_dir, "invantive")


def owner(work: str, connection: str, expected: str, generation: str = "") -> None:
    """The stored chain's owner (controller, or a host) and, if given, its generation."""
    data = store(work, connection)
    found = data["owner"].get("host") if data["owner"].get("kind") == "host" else "controller"
    assert found == expected, "%s is owned by %s, not %s" % (connection, found, expected)
    if generation:
        assert data["generation"] == int(generation), data["generation"]
    print("%s: generation %s owned by %s; deployed_to %s" % (connection, data["generation"], found, data.get("deployed_to") or []))


def sealed_dir(host: str) -> str:
    return os.path.join(SEALED_BASE, USERS[host])


def _settings_in(path: str) -> list[str]:
    return sorted(n for n in os.listdir(path) if n.startswith("settings")) if os.path.isdir(path) else []


def files(host: str, *expected: str) -> None:
    """Exactly these settings files: sealed ones (.sealed) and the runner's notes (.not-before) in the host's sealed directory,
    root's 0600, in a directory that is root's alone all the way up; plain ones (.xml) in the user's folder, the user's 0600 in
    a 0700 folder; nothing else."""
    user = pwd.getpwnam(USERS[host])
    sealed = sorted(n for n in expected if n.endswith((".sealed", NOTE_SUFFIX)))
    plain = sorted(n for n in expected if n not in sealed)
    places = ((sealed_dir(host), sealed, (0, 0)), (folder(host), plain, (user.pw_uid, user.pw_gid)))
    for path, wanted, owner in places:
        names = _settings_in(path)
        assert names == wanted, "%s holds %s, expected %s" % (path, names, wanted)
        if not wanted:
            continue
        info = os.lstat(path)
        where = "folder %s: mode %o uid %d" % (path, info.st_mode, info.st_uid)
        assert stat.S_ISDIR(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o700 and info.st_uid == owner[0], where
        for name in names:
            info = os.lstat(os.path.join(path, name))
            assert stat.S_ISREG(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o600, "%s mode %o" % (name, info.st_mode)
            assert (info.st_uid, info.st_gid) == owner, "%s owned by %d:%d" % (name, info.st_uid, info.st_gid)
            with open(os.path.join(path, name), "rb") as handle:
                data = handle.read()
            if name.endswith(".sealed"):
                assert b"<settings" not in data and b"connectionString" not in data, "%s is not sealed" % name
            elif name.endswith(NOTE_SUFFIX):
                assert re.search(rb"^not_before=\d+\ninterval=570\n", data, re.MULTILINE), "%s is not a note of Exact's interval" % name
            else:
                ET.fromstring(data)
    # Only root can change any directory on the way to the sealed files.
    parent = sealed_dir(host)
    while True:
        info = os.lstat(parent)
        assert info.st_uid == 0 and not info.st_mode & 0o022 and stat.S_ISDIR(info.st_mode), "%s: uid %d mode %o" % (parent, info.st_uid, info.st_mode)
        if parent == "/":
            break
        parent = os.path.dirname(parent)
    print(
        "%s: sealed %s in %s (root, 0600); plain %s in %s (%s, 0600)" % (host, sealed or "none", sealed_dir(host), plain or "none", folder(host), user.pw_name)
    )


def age_notes(path: str, seconds: str) -> None:
    """Move the world forward for the runner, which reads the host's real clock: every note's time ``seconds`` earlier.
    Written in place, so owner, mode and inode stay the role's."""
    for name in sorted(os.listdir(path)):
        if name.endswith(NOTE_SUFFIX):
            with open(os.path.join(path, name), "r+") as handle:
                text = re.sub(r"(?m)^not_before=(\d+)$", lambda m: "not_before=%d" % (int(m.group(1)) - int(seconds)), handle.read())
                handle.seek(0)
                handle.truncate()
                handle.write(text)
            print("%s: %s s earlier" % (name, seconds))


def same(path: str, before: str) -> None:
    """The directory's owner, mode and content are what ``before`` (a file written by ``snapshot``) says."""
    with open(before) as handle:
        assert json.load(handle) == _snapshot(path), "%s changed: %s" % (path, _snapshot(path))
    print("%s: owner, mode and content unchanged" % path)


def snapshot(path: str, into: str) -> None:
    with open(into, "w") as handle:
        json.dump(_snapshot(path), handle)


def _snapshot(path: str) -> dict:
    info = os.lstat(path)
    return {"uid": info.st_uid, "gid": info.st_gid, "mode": stat.S_IMODE(info.st_mode), "names": sorted(os.listdir(path))}


def digest(path: str) -> None:
    with open(path, "rb") as handle:
        print(hashlib.sha256(handle.read()).hexdigest())


def expect(work: str, host: str, *connections: str) -> None:
    """What the stand-in product must find on ``host``: per connection, the stored refresh token's fingerprint."""
    wanted = {c: store(work, c)["tokens"]["refresh_fingerprint"] for c in connections}
    path = os.path.join(os.environ["STANDIN_DIR"], "expect-%s.json" % host)
    with open(path, "w") as handle:
        json.dump({"user": USERS[host], "connections": wanted}, handle)
    os.chmod(path, 0o644)


def report(report_file: str, user: str, *connections: str) -> None:
    """The stand-in's report is right and the runtime directory it saw is gone."""
    data = json.load(open(report_file))
    assert data["user"] == user and data["folder_mode"] == "700", data
    assert data["connections"] == sorted(connections), data
    assert not os.path.exists(data["folder"]), "the runtime directory %s is still there" % data["folder"]
    leftovers = os.listdir(os.path.dirname(data["folder"]))
    assert leftovers == [], "left behind in %s: %s" % (os.path.dirname(data["folder"]), leftovers)
    print("runner: %s saw %s in a 0700 runtime directory, which is gone now" % (user, ", ".join(data["connections"])))


HEALTH_BASE = "/var/lib/preauth/health"


def health(user: str, connection: str, status: str, exit_status: str, generation: str, success: str) -> None:
    """The runner's health record of ``connection`` for ``user``: root's alone, no secret, with this status and exit status;
    ``generation`` "-" for unknown; ``success`` "set" (a last success is recorded) or "none"."""
    directory = os.path.join(HEALTH_BASE, user)
    info = os.stat(directory)
    assert info.st_uid == 0 and stat.S_IMODE(info.st_mode) == 0o700, (directory, info)
    path = os.path.join(directory, connection + ".json")
    info = os.lstat(path)
    assert stat.S_ISREG(info.st_mode) and info.st_uid == 0 and stat.S_IMODE(info.st_mode) == 0o600, (path, info)
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    assert data["schema"] == 1 and data["connection"] == connection and data["user"] == user, data
    assert data["status"] == status and data["exit_status"] == int(exit_status), data
    assert data["generation"] == (None if generation == "-" else int(generation)), data
    assert (data["last_success_at"] is not None) == (success == "set"), data
    assert data["started_at"] <= data["finished_at"], data
    assert set(data) == {"schema", "connection", "user", "started_at", "finished_at", "exit_status", "status", "message", "generation", "last_success_at"}
    print("health of %s for %s: %s (exit %s), generation %s, last success %s" % (connection, user, status, exit_status, generation, data["last_success_at"]))


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    {
        "inventory": inventory,
        "owner": owner,
        "files": files,
        "snapshot": snapshot,
        "same": same,
        "age-notes": age_notes,
        "digest": digest,
        "expect": expect,
        "report": report,
        "health": health,
    }[
        command
    ](*args)
