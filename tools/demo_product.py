"""The demo's stand-in for Invantive Data Hub: started by preauth-run, it reads the settings files
the runner unsealed for it and says what it found - never a secret value, only which keys are set
and a fingerprint of the refresh token to compare with the store. Standard library only."""

from __future__ import annotations

import hashlib
import os
import sys
import xml.etree.ElementTree as ET


def main() -> int:
    folder = os.environ.get("INVANTIVE_CONFIGURATION_DATABASES_FOLDER")
    if not folder:
        print("product: INVANTIVE_CONFIGURATION_DATABASES_FOLDER is not set; start me through preauth-run")
        return 1
    print("product: settings folder %s (mode %o)" % (folder, os.stat(folder).st_mode & 0o777))
    for name in sorted(os.listdir(folder)):
        root = ET.parse(os.path.join(folder, name)).getroot()
        group, conn, database = root.find("group"), root.find("group/connection"), root.find("group/connection/database")
        pairs = dict(part.split("=", 1) for part in database.get("connectionString").split(";"))
        token = hashlib.sha256(pairs.get("api-refresh-token", "").encode()).hexdigest()[:12]
        where = "%s\\%s" % (group.get("name"), conn.get("name"))
        print("product: %s - database %s, provider %s, alias %s" % (name, where, database.get("provider"), database.get("alias")))
        print("product:   connection string keys: %s" % ", ".join(pairs))
        print("product:   refresh token fingerprint %s; connecting to %s ..." % (token, pairs.get("api-url")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
