"""Token chains for the benchmark: created with the collection's own code, aged, and checked.

Every chain starts the way a person makes one: ``_preauth.start`` stores a pending attempt, the
simulator's scripted browser signs in (password, TOTP, consent) and ``_preauth.complete``
exchanges the code and stores the chain in a vault-encrypted token store. Variant (a) refreshes
that file store, variant (d) a PostgreSQL store made the same way. Variants (b) and (c) get chains
of their own, made the same way in a scratch store and then moved into their own format: one
vault-encrypted YAML file per connection with ``refresh_token``, ``access_token`` and
``expires_at``. No two variants refresh a chain at the same time (rotation would break the
other); at a large N, (d) may get (a)'s chains after (a)'s runs (``move_to_store``).

Nothing here prints or returns a token; the checks compare fingerprints.
"""

from __future__ import annotations

import concurrent.futures
import copy
import os
import shutil
import sys
import tempfile
import threading
import typing as t

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

STRICT_CLIENT_ID = "strict-demo-client"
# The simulator's obviously fake client secret; it only ever goes to the simulator or into vault.
STRICT_CLIENT_SECRET = "FAKE-strict-client-secret-for-tests"
REDIRECT_URI = "https://preauth.example.test/callback"
SCOPES = ["openid", "offline_access"]
CONTACT = {"first_name": "Ada", "last_name": "Jansen", "job_title": "Controller", "email": "ada.jansen@example.test", "company": "Example B.V."}


def install_imports() -> None:
    """Import the simulator and ``ansible_collections.preauth.oauth2`` from this checkout."""
    tests = os.path.join(ROOT, "tests")
    if tests not in sys.path:
        sys.path.append(tests)  # after bench/: tests/ has a chains.py of its own
    from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder

    _AnsibleCollectionFinder(paths=[os.path.join(ROOT, "build", "collections")])._install()


def connection_name(index: int) -> str:
    return "conn-%04d" % index


def endpoints(sim_url: str) -> dict[str, str]:
    return {"authorize": sim_url + "/strict/authorize", "token": sim_url + "/strict/token"}


def store_options(where: str) -> dict[str, str | None]:
    """The store options for ``where``: a PostgreSQL URL (its password comes from PGPASSWORD) or a directory."""
    if where.startswith("postgresql://"):
        return {"store_dir": None, "store_url": where}
    return {"store_dir": where, "store_url": None}


def _params(sim_url: str, where: str, name: str) -> dict[str, t.Any]:
    from ansible_collections.preauth.oauth2.plugins.plugin_utils._connection import CONNECTION_ARGS

    found = {key: spec.get("default") for key, spec in CONNECTION_ARGS.items()}
    found.update(
        connection=name,
        platform="generic",
        endpoints=dict(endpoints(sim_url), revocation=None, whoami=None),
        client_id=STRICT_CLIENT_ID,
        client_secret=STRICT_CLIENT_SECRET,
        redirect_uri=REDIRECT_URI,
        scopes=list(SCOPES),
        timeout=30.0,
        **store_options(where),
    )
    return found


def open_store(where: str, vault: t.Any) -> t.Any:
    """The collection's store for ``where`` (a directory or a PostgreSQL URL), as the actions open it."""
    from ansible_collections.preauth.oauth2.plugins.plugin_utils._connection import open_store as collection_open_store

    return collection_open_store(store_options(where), vault)


class Creator:
    """Make chains in a token store, with a few threads (the simulator is threaded).

    One store object per store and one browser per thread: a new store object derives its index
    key again (100,000 PBKDF2 rounds) and a new browser loads the system's CA certificates again,
    which made up most of the time of creating a chain.
    """

    def __init__(self, sim_url: str, vault: t.Any, workers: int = 4) -> None:
        install_imports()
        from simulator import DEFAULT_CONFIG

        self.sim_url = sim_url
        self.vault = vault
        self.workers = workers
        self.user = DEFAULT_CONFIG["users"][0]
        self.local = threading.local()
        self.stores: dict[str, t.Any] = {}
        self.stores_lock = threading.Lock()

    def _client(self, params: dict[str, t.Any]) -> t.Any:
        from ansible_collections.preauth.oauth2.plugins.plugin_utils._connection import new_client

        if getattr(self.local, "client", None) is None:
            self.local.client = new_client(params)
        return self.local.client

    def _store(self, where: str) -> t.Any:
        with self.stores_lock:
            if where not in self.stores:
                self.stores[where] = open_store(where, self.vault)
            return self.stores[where]

    def _browser(self) -> t.Any:
        from simulator.browser import ScriptedBrowser

        if getattr(self.local, "browser", None) is None:
            self.local.browser = ScriptedBrowser()
        browser = self.local.browser
        browser.steps.clear()  # it keeps no cookies; only its narration would grow
        return browser

    def one(self, where: str, name: str) -> str:
        """Preauthenticate one connection into the store ``where``; return its refresh-token fingerprint."""
        from ansible_collections.preauth.oauth2.plugins.plugin_utils._connection import resolve
        from ansible_collections.preauth.oauth2.plugins.plugin_utils._flows.preauth import complete, start

        params = _params(self.sim_url, where, name)
        client = self._client(params)
        conn = resolve(params, client)
        store = self._store(where)
        url = start(conn, store, False, 900).result["url"]
        landed = self._browser().login(url, self.user["username"], self.user["password"], self.user["totp_secret"])
        step = complete(conn, store, client, False, CONTACT, redirect_url=landed)
        return step.result["refresh_fingerprint"]

    def many(self, where: str, names: list[str]) -> dict[str, str]:
        """Preauthenticate every name into the store ``where`` (a directory or a PostgreSQL URL); return name -> refresh fingerprint."""
        with concurrent.futures.ThreadPoolExecutor(self.workers) as pool:
            return dict(zip(names, pool.map(lambda name: self.one(where, name), names), strict=True))

    def close(self) -> None:
        """End the database sessions of the stores this creator opened."""
        with self.stores_lock:
            stores, self.stores = list(self.stores.values()), {}
        for store in stores:
            store.close()


# -- the user-format files of variants (b) and (c) --------------------------------------------


def write_encrypted(path: str, data: dict[str, t.Any], vault: t.Any) -> None:
    """Encrypt YAML with ansible-vault and replace ``path`` atomically (tempfile, fsync, rename)."""
    ciphertext = vault.encrypt(yaml.safe_dump(data, sort_keys=True, default_flow_style=False))
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, ciphertext)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def read_encrypted(path: str, vault: t.Any) -> dict[str, t.Any]:
    with open(path, "rb") as handle:
        return yaml.safe_load(vault.decrypt(handle.read()))


def user_files_from_store(store_dir: str, token_dir: str, names: list[str], vault: t.Any) -> None:
    """Move chains from a scratch FileTokenStore into one user-format vault file per connection."""
    from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.file import FileTokenStore

    store = FileTokenStore(store_dir, vault)
    os.makedirs(token_dir, mode=0o700, exist_ok=True)
    for name in names:
        tokens = store.read(name).data["tokens"]
        record = {
            "access_token": tokens["access_token"],
            "refresh_token": tokens["refresh_token"],
            "expires_at": int(tokens["access_expires_at"]),
        }
        write_encrypted(os.path.join(token_dir, name + ".yml"), record, vault)
    shutil.rmtree(store_dir)


def _each(names: list[str], work: t.Callable[[str], None], workers: int) -> None:
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        for _done in pool.map(work, names):
            pass


def age_store(where: str, seconds: float, vault: t.Any, workers: int = 4) -> None:
    """Variants (a) and (d): every time in every record ``seconds`` older (as tests/simulator/timewarp.py), under each record's lock."""
    from simulator.timewarp import shift_record

    store = open_store(where, vault)

    def one(name: str) -> None:
        with store.locked(name) as record:
            shift_record(record.data, seconds)

    try:
        _each(store.connections(), one, workers)
    finally:
        store.close()


def move_to_store(source: str, target: str, names: list[str], seconds: float, vault: t.Any, workers: int = 4) -> None:
    """Give (d) the chains (a) refreshed, instead of making new ones: each record read from the file
    store ``source``, made ``seconds`` older, and written into the empty store ``target`` through the
    collection's own store API (encrypted again, with its signed facts). The source is not used again."""
    from simulator.timewarp import shift_record

    src, dst = open_store(source, vault), open_store(target, vault)

    def one(name: str) -> None:
        data = copy.deepcopy(src.read(name).data)
        shift_record(data, seconds)
        with dst.locked(name) as record:
            if record.exists:
                raise SystemExit("%s already holds a chain for %s; (d) needs an empty database" % (dst.location, name))
            record.data = data

    try:
        _each(names, one, workers)
    finally:
        dst.close()


def age_user_files(token_dir: str, names: list[str], seconds: float, vault: t.Any) -> None:
    """Variants (b) and (c): the stored expiry ``seconds`` earlier."""
    for name in names:
        path = os.path.join(token_dir, name + ".yml")
        data = read_encrypted(path, vault)
        data["expires_at"] = int(data["expires_at"] - seconds)
        write_encrypted(path, data, vault)


# -- checks after a variant ran ----------------------------------------------------------------


def stored_fingerprints(variant: str, where: str, names: list[str], vault: t.Any) -> dict[str, str | None]:
    """name -> fingerprint of the refresh token the variant has stored now."""
    from ansible.errors import AnsibleError
    from ansible_collections.preauth.oauth2.plugins.plugin_utils._oauth.client import fingerprint

    found: dict[str, str | None] = {}
    if variant in ("a", "d"):
        store = open_store(where, vault)

        def one(name: str) -> None:
            found[name] = (store.read(name).data.get("tokens") or {}).get("refresh_fingerprint")

        try:
            _each(names, one, 4)
        finally:
            store.close()
    else:
        for name in names:
            try:
                found[name] = fingerprint(read_encrypted(os.path.join(where, name + ".yml"), vault).get("refresh_token"))
            except (OSError, AnsibleError, yaml.YAMLError, AttributeError):  # a missing or damaged file fails the check
                found[name] = None
    return found


def check_chains(state: dict[str, t.Any], first: dict[str, str], stored: dict[str, str | None], refreshes: int) -> dict[str, t.Any]:
    """Compare the simulator's view of a variant's chains with what the variant stored.

    ``first`` maps each connection to the fingerprint of the refresh token it started with; a
    chain is found by that fingerprint (its first retired token, or its current one).
    """
    by_first: dict[str, dict[str, t.Any]] = {}
    for chain in state["chains"]:
        origin = chain["retired_fingerprints"][0] if chain["retired_fingerprints"] else chain["refresh_fingerprint"]
        by_first[origin] = chain
    result = {"chains": len(first), "found": 0, "alive": 0, "refreshed_as_expected": 0, "stored_is_current": 0, "refreshes_expected": refreshes}
    for name, origin in first.items():
        chain = by_first.get(origin)
        if chain is None:
            continue
        result["found"] += 1
        result["alive"] += chain["state"] == "alive"
        result["refreshed_as_expected"] += chain["refreshes"] == refreshes
        result["stored_is_current"] += stored.get(name) is not None and stored.get(name) == chain["refresh_fingerprint"]
    n = len(first)
    result["ok"] = all(result[key] == n for key in ("found", "alive", "refreshed_as_expected", "stored_is_current"))
    return result
