"""A stand-in for the product, started by preauth-run as the service user: it reads the unsealed
settings from INVANTIVE_CONFIGURATION_DATABASES_FOLDER, checks that each refresh token is the one
the controller stored (by fingerprint), reports what it saw, then exits as asked (ok, fail, kill,
wait). Standard library only, like a product that knows nothing of the collection."""

import grp
import hashlib
import json
import os
import pwd
import stat
import sys
import time
import xml.etree.ElementTree as ET


def standin(expect_file: str, report_file: str, mode: str = "ok") -> None:
    """The product: reads the unsealed settings the runner gives it and checks them, as its service user."""
    wanted = json.load(open(expect_file))
    folder_ = os.environ["INVANTIVE_CONFIGURATION_DATABASES_FOLDER"]
    found = {}
    for name in sorted(os.listdir(folder_)):
        root = ET.parse(os.path.join(folder_, name)).getroot()
        database = root.find("group/connection/database")
        pairs = dict(part.split("=", 1) for part in database.get("connectionString").split(";"))
        token = pairs["api-refresh-token"]
        found[root.find("group/connection").get("name")] = hashlib.sha256(token.encode()).hexdigest()[:12]
        info = os.stat(os.path.join(folder_, name))
        assert stat.S_IMODE(info.st_mode) == 0o600 and info.st_uid == os.getuid(), name
    report = {
        "folder": folder_,
        "user": pwd.getpwuid(os.getuid()).pw_name,
        "group": grp.getgrgid(os.getgid()).gr_name,
        "folder_mode": "%o" % stat.S_IMODE(os.stat(folder_).st_mode),
        "matches": found == wanted["connections"],
        "connections": sorted(found),
    }
    with open(report_file, "w") as handle:
        json.dump(report, handle)
    if mode == "fail":
        sys.exit(3)
    if mode == "kill":
        os.kill(os.getpid(), 9)
    if mode == "wait":
        time.sleep(60)
    assert report["matches"] and report["user"] == wanted["user"], report
    print("stand-in product: %d settings file(s), tokens as stored, running as %s" % (len(found), report["user"]))


if __name__ == "__main__":
    standin(*sys.argv[1:])
