"""Helpers for the refresh_postgresql target: the refresh target's inventory, clock and checks, with the
chains in a PostgreSQL token store (PREAUTH_OAUTH2_STORE_URL and PGPASSWORD from tests/pgserver.py).
Rows are read and written only through the collection's own PgTokenStore, so they stay vault-encrypted.
Nothing here prints a secret."""

from __future__ import annotations

import hashlib
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "setup_simulator"))

from fleet import check_chains, counter, main, scan_paths, state, vault, write_inventory  # noqa: E402

from ansible_collections.preauth.oauth2.plugins.plugin_utils._connection import open_store  # noqa: E402
from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.postgresql import STORE_URL_ENV, PgTokenStore  # noqa: E402
from simulator.control import ControlClient  # noqa: E402
from simulator.timewarp import shift_record  # noqa: E402


def store(work: str) -> PgTokenStore:
    """The store the playbooks use: the URL from the environment, as with no store_dir and no store_url."""
    opened = open_store({"store_url": os.environ[STORE_URL_ENV]}, vault(work))
    if not isinstance(opened, PgTokenStore):
        raise SystemExit("%s did not open a PostgreSQL token store" % STORE_URL_ENV)
    return opened


def inventory(sim: str, work: str, strict: str, exact: str) -> None:
    """The inventory without a store: every run finds it in the environment (PREAUTH_OAUTH2_STORE_URL)."""
    write_inventory(sim, work, strict, exact, None)


def _shift(data: dict, delta: float) -> None:
    shift_record(data, delta)
    flight = data.get("in_flight")
    if isinstance(flight, dict) and isinstance(flight.get("until"), (int, float)):
        flight["until"] = round(flight["until"] - delta, 3)


def later(sim: str, work: str, seconds: str, *rescue_dirs: str) -> None:
    """The simulator's clock and every row's times move forward, in-flight deadlines included (a row's
    "until" says how long another run leaves a lost answer alone; time passing must pass it too).

    Rescue files in ``rescue_dirs`` (other controllers' directories) age with the rows they were derived
    from: each is shifted the same way and re-encrypted onto the shifted row, as if time had passed for both.
    """
    delta = float(seconds)
    ControlClient(sim).advance_clock(delta)
    tokens = store(work)
    try:
        for connection in tokens.connections():
            with tokens.locked(connection) as record:
                _shift(record.data, delta)
                before = record.source[2] if record.source else None
            after = tokens.read(connection).source
            for directory in rescue_dirs:
                _age_rescue(tokens, directory, connection, before, after[2] if after else None, delta)
    finally:
        tokens.close()


def _age_rescue(tokens: PgTokenStore, directory: str, connection: str, before: str | None, after: str | None, delta: float) -> None:
    path = os.path.join(directory, "%s.%s.json" % (tokens.store_id, connection))
    if not os.path.exists(path) or before == after:
        return
    with open(path, encoding="utf-8") as handle:
        rescue = json.load(handle)
    if rescue["base_sha256"] != before:
        return
    record = tokens._record(connection, rescue["document"].encode("ascii"))  # pylint: disable=protected-access
    record.original = None
    _shift(record.data, delta)
    _data, b_document = tokens._ciphertext(record)  # pylint: disable=protected-access
    rescue.update(base_sha256=after, document=b_document.decode("ascii"), document_sha256=hashlib.sha256(b_document).hexdigest())
    with open(path + ".aged", "w", encoding="utf-8") as handle:
        json.dump(rescue, handle, sort_keys=True)
    os.chmod(path + ".aged", 0o600)
    os.replace(path + ".aged", path)


def copy_db(pgdir: str, name: str) -> None:
    """CREATE DATABASE <name> TEMPLATE preauth, as a database administrator would make a copy; prints its URL."""
    from pgserver import PostgresServer
    from psycopg import sql

    with open(os.path.join(pgdir, "server.json"), encoding="utf-8") as handle:
        pg = PostgresServer.from_state(json.load(handle))
    pg.terminate_backends()
    with pg.admin_connect() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE preauth OWNER preauth").format(sql.Identifier(name)))
    print(pg.url_for(name))


def check(sim: str, work: str, mode: str) -> None:
    tokens = store(work)
    try:
        check_chains(tokens, sim, mode, "rows")
    finally:
        tokens.close()


def live(sim: str, work: str, name: str) -> None:
    """The connection's stored refresh token is the simulator's current one, its chain alive, no refresh in flight."""
    tokens = store(work)
    try:
        data = tokens.read(name).data
    finally:
        tokens.close()
    stored = (data.get("tokens") or {}).get("refresh_fingerprint")
    alive = [c for c in state(sim)["chains"] if c["state"] == "alive" and c["refresh_fingerprint"] == stored]
    if not stored or not alive or data.get("in_flight") or data.get("reauthorization_required"):
        raise SystemExit("%s: the stored refresh token is not the live one at the platform (or a refresh is still marked in flight)" % name)
    print("%s: the stored refresh token is the platform's current one" % name)


def in_flight(work: str) -> None:
    """How many rows a killed run left marked in flight (each the next run must settle)."""
    tokens = store(work)
    try:
        marked = [name for name in tokens.connections() if tokens.read(name).data.get("in_flight")]
    finally:
        tokens.close()
    print("%d row(s) left marked in flight: %s" % (len(marked), ", ".join(marked) or "none"))


def dump(work: str, path: str) -> None:
    """Every column of every row as text, for the secret scan: the database must hold ciphertext only."""
    tokens = store(work)
    try:
        conn = tokens._session(write=False)  # pylint: disable=protected-access
        rows = conn.execute("SELECT * FROM preauth_oauth2_chain ORDER BY connection").fetchall() if conn is not None else []
        meta = conn.execute("SELECT * FROM preauth_oauth2_meta").fetchall() if conn is not None else []
    finally:
        tokens.close()
    with open(path, "w", encoding="utf-8") as handle:
        for row in [*rows, *meta]:
            handle.write(" | ".join(bytes(v).decode("ascii", "replace") if isinstance(v, (bytes, memoryview)) else str(v) for v in row) + "\n")
    if not rows:
        raise SystemExit("the PostgreSQL store holds no row to scan")
    print("dumped %d rows" % len(rows))


def scan(sim: str, *paths: str) -> None:
    scan_paths(sim, list(paths), [])


def server(pgdir: str, action: str) -> None:
    """Stop the test server (fast) keeping its data and port ("down"), or start it again ("up"). The command
    line of tests/pgserver.py only restarts at once, which a run may well ride out on a new session."""
    from pgserver import PostgresServer

    with open(os.path.join(pgdir, "server.json"), encoding="utf-8") as handle:
        pg = PostgresServer.from_state(json.load(handle))
    if action in ("down", "crash"):
        pg.stop("fast" if action == "down" else "immediate")  # immediate: as a crash, no shutdown checkpoint
    else:
        pg.start_again()
    print("pgserver: %s" % ("started again" if action == "up" else "stopped (%s)" % action))


def rescue_is_ciphertext(path: str) -> None:
    with open(path, encoding="utf-8") as handle:
        rescue = json.load(handle)
    if not rescue["document"].startswith("$ANSIBLE_VAULT;1.1;AES256"):
        raise SystemExit("the rescue file %s holds something other than vault ciphertext" % path)
    print("the rescue file holds vault ciphertext only")


# -- item 18.4: a move between stores killed at each step (move_kill.sh) -------------------------------------------------


def _side_state(record) -> str:
    from ansible_collections.preauth.oauth2.plugins.plugin_utils._store.ownership import moving_mark

    if not record.exists:
        return "-"
    if not (record.data.get("tokens") or {}).get("refresh_token"):
        return "tombstone" if record.data.get("moved_to") else "empty"
    return "marked" if moving_mark(record.data) else "live"


def move_sides(work: str, name: str, store_dir: str, expected: str) -> None:
    """The connection's state in the PostgreSQL store and in the file store ``store_dir``, as PG:FILE (live, marked,
    tombstone, empty or -), must be ``expected``; never more than one side live."""
    tokens = store(work)
    try:
        pg_side = _side_state(tokens.read(name))
    finally:
        tokens.close()
    file_side = _side_state(open_store({"store_dir": store_dir}, vault(work)).read(name))
    found = "%s:%s" % (pg_side, file_side)
    if found.count("live") > 1 or found != expected:
        raise SystemExit("%s: the stores hold %s (PostgreSQL:file), not %s" % (name, found, expected))
    print("%s: %s (PostgreSQL:file)" % (name, found))


if __name__ == "__main__":
    main(
        {
            "inventory": inventory,
            "later": later,
            "copy_db": copy_db,
            "check": check,
            "live": live,
            "in_flight": in_flight,
            "counter": counter,
            "dump": dump,
            "scan": scan,
            "server": server,
            "rescue_is_ciphertext": rescue_is_ciphertext,
            "move_sides": move_sides,
        }
    )
