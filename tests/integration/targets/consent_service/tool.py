"""Helpers of the consent_service target: the database role, the unit started as systemd would, the pages.

  tool.py role PGDIR NAME PASSWORD         make the service's login role (as the test server's superuser)
  tool.py start UNIT CREDS LOG             start the unit's ExecStart= as its User=, with its credentials
                                           decrypted into CREDS as systemd's LoadCredential(Encrypted)= does
  tool.py pages LINKFILE BASE COMPANY      the invitation page, its form and the refusals, over HTTP
  tool.py stop PIDFILE                     stop the service

Only fake values are used; nothing secret is printed.
"""

from __future__ import annotations

import grp
import http.cookiejar
import os
import pwd
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
COLLECTION = os.environ.get("COLLECTION_ROOT") or os.path.abspath(os.path.join(HERE, "..", "..", "..", ".."))
sys.path.insert(0, os.path.join(COLLECTION, "tests"))


def fail(msg: str) -> None:
    raise SystemExit("consent_service: %s" % msg)


def role(pgdir: str, name: str, password: str) -> None:
    import pgserver  # noqa: PLC0415 - the tests' server module, found through COLLECTION
    from psycopg import sql  # noqa: PLC0415

    server = pgserver._load(pgdir)
    with server.admin_connect() as admin:
        admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(name), sql.Literal(password)))
        admin.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(pgserver.APP_DATABASE), sql.Identifier(name)))
    print("role %s made" % name)


def unit_settings(path: str) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    section = None
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("["):
                section = line
                continue
            if section == "[Service]":
                key, _sep, value = line.partition("=")
                settings.setdefault(key, []).append(value)
    return settings


def start(unit: str, creds: str, log: str) -> None:
    settings = unit_settings(unit)
    user = settings["User"][0]
    account = pwd.getpwnam(user)
    group = grp.getgrnam(settings["Group"][0])
    os.mkdir(creds, 0o700)
    os.chown(creds, account.pw_uid, group.gr_gid)
    encrypted = [("systemd-creds", v) for v in settings.get("LoadCredentialEncrypted", [])]
    plain = [("plain", v) for v in settings.get("LoadCredential", [])]
    for method, value in encrypted + plain:
        name, _sep, source = value.partition(":")
        if method == "systemd-creds":
            data = subprocess.run(["systemd-creds", "decrypt", "--name=" + name, source, "-"], check=True, capture_output=True).stdout
        else:
            with open(source, "rb") as handle:
                data = handle.read()
        fd = os.open(os.path.join(creds, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
        os.write(fd, data)
        os.fchown(fd, account.pw_uid, group.gr_gid)
        os.close(fd)
    env = {"PATH": "/usr/bin:/bin", "CREDENTIALS_DIRECTORY": creds, "HOME": "/", "LANG": "C.UTF-8"}
    for value in settings.get("Environment", []):
        key, _sep, item = value.partition("=")
        env[key] = item
    command = shlex.split(settings["ExecStart"][0].replace("%d", creds).replace("%%", "%"))
    listen = command[command.index("--listen") + 1]
    host, _sep, port = listen.rpartition(":")
    out = open(log, "ab")
    proc = subprocess.Popen(
        command, env=env, cwd="/", user=account.pw_uid, group=group.gr_gid, extra_groups=[], stdout=out, stderr=out, stdin=subprocess.DEVNULL,
        start_new_session=True, umask=0o077,
    )
    with open(os.path.join(os.path.dirname(log), "service.pid"), "w", encoding="utf-8") as handle:
        handle.write(str(proc.pid))
    for _attempt in range(300):
        if proc.poll() is not None:
            fail("the service ended at start (exit %s); see %s" % (proc.returncode, log))
        try:
            socket.create_connection((host, int(port)), timeout=1).close()
            print("the service runs as %s (pid %d) on %s, with %d credentials" % (user, proc.pid, listen, len(os.listdir(creds))))
            return
        except OSError:
            time.sleep(0.1)
    fail("the service did not listen on %s within 30 s" % listen)


HEADERS = {
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def check_headers(response, what: str) -> None:
    for name, want in HEADERS.items():
        if response.headers.get(name) != want:
            fail("%s: %s is %r, not %r" % (what, name, response.headers.get(name), want))
    csp = response.headers.get("Content-Security-Policy") or ""
    if "frame-ancestors 'none'" not in csp or "unsafe-inline" in csp:
        fail("%s: Content-Security-Policy %r" % (what, csp))
    if "no-store" not in (response.headers.get("Cache-Control") or ""):
        fail("%s: Cache-Control %r" % (what, response.headers.get("Cache-Control")))


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # noqa: ANN002, ANN003
        return None


def pages(linkfile: str, base: str, company: str) -> None:
    with open(linkfile, encoding="utf-8") as handle:
        link = handle.read().strip()
    token = link.rsplit("/", 1)[1]
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)
    with opener.open(link, timeout=30) as response:
        body = response.read().decode("utf-8")
        check_headers(response, "the invitation page")
    if company not in body or 'name="csrf"' not in body:
        fail("the invitation page does not show who asks, or has no form")
    if token in body:
        fail("the invitation page shows its own link token")
    csrf = re.search(r'name="csrf" value="([^"]+)"', body).group(1)
    form = {"csrf": csrf, "first_name": "Bea", "last_name": "Boekhouder", "job_title": "Controller", "email": "bea@retail.example",
            "company": "Retail B.V.", "consent": "yes"}
    request = urllib.request.Request(link, data=urllib.parse.urlencode(form).encode(), method="POST")
    where = ""
    try:
        opener.open(request, timeout=30)
        fail("the form did not send the browser to the platform")
    except urllib.error.HTTPError as exc:
        if exc.code != 303:
            fail("the form answered %d, not 303" % exc.code)
        where = exc.headers.get("Location") or ""
        check_headers(exc, "the form's redirect")
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(where).query)
    if query.get("redirect_uri") != [base + "/callback"] or query.get("code_challenge_method") != ["S256"] or not query.get("state"):
        fail("the redirect to the platform lacks the service's redirect URI, PKCE or state")
    try:
        opener.open(base + "/i/FAKE-not-an-invitation-token-000000000000", timeout=30)
        fail("an unknown invitation was served")
    except urllib.error.HTTPError as exc:
        if exc.code != 404:
            fail("an unknown invitation answered %d, not 404" % exc.code)
        check_headers(exc, "the unknown-invitation page")
    print("invitation page, form (303 to the platform with PKCE and the service's redirect URI) and unknown link: as documented")


def stop(pidfile: str) -> None:
    with open(pidfile, encoding="utf-8") as handle:
        pid = int(handle.read())
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _attempt in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


if __name__ == "__main__":
    action, args = sys.argv[1], sys.argv[2:]
    try:
        {"role": role, "start": start, "pages": pages, "stop": stop}[action](*args)
    except urllib.error.HTTPError as exc:  # its URL may hold a link token: only the status is shown
        fail("%s: the service answered %d where the test did not expect it" % (action, exc.code))
