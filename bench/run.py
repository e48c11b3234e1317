"""Benchmark: refreshing N controller-owned chains with the collection, a user playbook, and a script.

    .venv/bin/python bench/run.py [--sizes 10,100,1000] [--variants a,b,c,d,e]     (make bench)

Per N: start the simulator, create N chains per variant with the collection's own code (a
scripted sign-in through the simulator for each), advance the simulator's clock and age every
store by 3601 s so that every access token has expired, then run each variant twice (``refresh``
and, at once, ``no-op``) under bench/measure.py: wall time, peak RSS, token calls (simulator
counters), and a check that every chain was refreshed exactly once, is alive, and that the token
the variant stored is the current one. Prints a table and PASS/FAIL per target, writes
bench/results.md and raw JSON in bench/results/. Everything runs on 127.0.0.1; no token is printed.

Variants: (a) playbooks/refresh.yml; (b) bench/naive_refresh.yml; (c) bench/floor.py; (d)
playbooks/refresh.yml on the PostgreSQL store (a throw-away server from tests/pgserver.py, started
here and stopped at the end); (e) bench/bare.yml, a bare playbook over (a)'s inventory (run once).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import typing as t
import urllib.request

import chains
import inventories
import report

ROOT = chains.ROOT
BENCH = os.path.join(ROOT, "bench")
BIN = os.path.dirname(sys.executable)
AGE = 3601  # the strict profile's access tokens live 3600 s
VAULT_PASSWORD = b"FAKE-bench-vault-password"
VARIANTS = ("a", "b", "c", "d", "e")
SCAN_BIG_BYTES = 256 * 1024
# The order in which one N's variants are measured: (e) between the two stores.
ORDER = ("a", "b", "c", "e", "d")
PHASES = {"a": ("refresh", "no-op"), "b": ("refresh", "no-op"), "c": ("refresh", "no-op"), "d": ("refresh", "no-op"), "e": ("bare",)}
# Inherited from the caller's environment, these would choose another store or password than the bench's.
STORE_ENV = ("PREAUTH_OAUTH2_STORE_URL", "PREAUTH_OAUTH2_STORE_DIR", "PREAUTH_OAUTH2_RESCUE_DIR", "PGPASSWORD", "PGPASSFILE", "PGSERVICE", "PGSERVICEFILE")


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10,100,1000", help="comma-separated numbers of chains (default: 10,100,1000)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated subset of a,b,c,d,e (default: all)")
    parser.add_argument("--min-ttl", type=int, default=600, help="refresh when the access token has less than this many seconds left")
    parser.add_argument("--b-limit-minutes", type=float, default=15.0, help="skip (b) at an N whose projected first run takes longer")
    parser.add_argument("--workers", type=int, default=4, help="threads that create chains (setup only, not measured)")
    parser.add_argument("--run-timeout", type=float, default=3600.0, help="kill a measured run after this many seconds")
    parser.add_argument("--results", default=os.path.join(BENCH, "results.md"), help="markdown report (default: bench/results.md)")
    parser.add_argument("--keep-work", action="store_true", help="keep the scratch directory with stores and inventories")
    parser.add_argument(
        "--reuse-chains-at",
        type=int,
        default=5000,
        help="at this N and above, (d) gets (a)'s chains after (a)'s runs (moved into PostgreSQL and aged again) instead of new ones (default: 5000)",
    )
    parser.add_argument(
        "--scan-full-max-n",
        type=int,
        default=2000,
        help="above this N the secret scan skips files over 256 KB: the simulator compares every secret it issued with every byte (default: 2000)",
    )
    parser.add_argument(
        "--profile-at",
        default="",
        help="comma-separated N at which (a), (d) and (e) run once more, unmeasured, under py-spy (raw stacks in the results directory)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run each no-op and the bare playbook this many times, the variants taking turns; the targets use each one's median (default: 1)",
    )
    parser.add_argument(
        "--noop-only-at",
        default="",
        help="comma-separated N at which the chains are not aged and (a) and (d) run only the no-op (their first refresh is not measured): "
        "at N=10,000 the refresh itself takes about ten minutes per store and no target needs it",
    )
    parser.add_argument("--py-spy", default="py-spy", help="the py-spy program for --profile-at (default: py-spy on PATH)")
    parser.add_argument(
        "--not-before",
        metavar="HH:MM",
        help="create the chains of every N first, then wait until this UTC time before the first measured run (not with (b))",
    )
    args = parser.parse_args()
    try:
        args.sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    except ValueError:
        parser.error("--sizes takes numbers such as 10,100,1000")
    if not args.sizes or min(args.sizes) < 1:
        parser.error("--sizes needs at least one number of chains, each 1 or more")
    wanted = {x.strip() for x in args.variants.split(",") if x.strip()}
    args.variants = [v for v in VARIANTS if v in wanted]
    if not args.variants or wanted - set(VARIANTS):
        parser.error("--variants takes a comma-separated subset of a,b,c,d,e")
    if {"a", "d"} & set(args.variants):
        missing = [p for p in ("plugins/action/token_refresh.py", "playbooks/refresh.yml") if not os.path.exists(os.path.join(ROOT, p))]
        if missing:
            parser.error("variants (a) and (d) need %s, which does not exist yet; run with --variants b,c" % " and ".join(missing))
    try:
        args.profile_at = {int(x) for x in args.profile_at.split(",") if x.strip()}
    except ValueError:
        parser.error("--profile-at takes numbers such as 1000,10000")
    try:
        args.noop_only_at = [int(n) for n in args.noop_only_at.split(",") if n.strip()]
    except ValueError:
        parser.error("--noop-only-at takes numbers such as 10000")
    if args.profile_at and not shutil.which(args.py_spy):
        parser.error("--profile-at needs py-spy (%s not found); install it outside the venvs (pip install py-spy) and give --py-spy" % args.py_spy)
    if args.not_before is not None:
        try:
            args.not_before = datetime.datetime.strptime(args.not_before, "%H:%M").time()
        except ValueError:
            parser.error("--not-before takes a UTC time such as 19:35")
        if "b" in args.variants:
            parser.error("--not-before creates every N's chains first, but (b) decides from the smaller N's runs whether to run; leave out b")
    return args


def _env(work: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, "build", "collections"),
        ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_RETRY_FILES_ENABLED="false",
        ANSIBLE_LOCAL_TEMP=os.path.join(work, "ansible-tmp"),
        PATH=BIN + os.pathsep + env.get("PATH", ""),
    )
    for name in ("ANSIBLE_CONFIG", "ANSIBLE_VAULT_PASSWORD_FILE", "ANSIBLE_VAULT_IDENTITY_LIST", *STORE_ENV):
        env.pop(name, None)
    return env


def command(variant: str, inventory: str, password_file: str, min_ttl: int) -> list[str]:
    if variant in ("a", "d"):  # (d): the same command, its store named by PREAUTH_OAUTH2_STORE_URL
        playbook = os.path.join(ROOT, "playbooks", "refresh.yml")
        return [
            os.path.join(BIN, "ansible-playbook"),
            "-i",
            inventory,
            "--vault-password-file",
            password_file,
            playbook,
            "-e",
            "preauth_access_token_min_ttl=%d" % min_ttl,
        ]
    if variant == "b":
        playbook = os.path.join(BENCH, "naive_refresh.yml")
        return [
            os.path.join(BIN, "ansible-playbook"),
            "-i",
            inventory,
            "--vault-password-file",
            password_file,
            playbook,
            "-e",
            "oauth_vault_password_file=%s" % password_file,
            "-e",
            "oauth_min_ttl=%d" % min_ttl,
        ]
    if variant == "e":
        return [os.path.join(BIN, "ansible-playbook"), "-i", inventory, "--vault-password-file", password_file, os.path.join(BENCH, "bare.yml")]
    return [sys.executable, os.path.join(BENCH, "floor.py"), "--inventory", inventory, "--vault-password-file", password_file, "--min-ttl", str(min_ttl)]


def shown(cmd: list[str], work: str) -> str:
    """A command as the report shows it: scratch paths shortened, the venv relative to the checkout."""
    text = " ".join(cmd).replace(work + "/", "$WORK/").replace(ROOT + "/", "")
    return text


def load_average() -> float:
    """The 1-minute load average: other work on the machine makes every figure noisier."""
    with open("/proc/loadavg", encoding="ascii") as handle:
        return float(handle.read().split()[0])


def measure(cmd: list[str], out_base: str, env: dict[str, str], cwd: str, timeout: float) -> dict[str, t.Any]:
    wrapper = [sys.executable, os.path.join(BENCH, "measure.py"), "--out", out_base + ".json", "--log", out_base + ".log", "--timeout", str(timeout), "--"]
    proc = subprocess.run(wrapper + cmd, env=env, cwd=cwd, check=False)
    if proc.returncode != 0:
        raise SystemExit("bench/measure.py failed (exit %d) for %s" % (proc.returncode, os.path.basename(out_base)))
    with open(out_base + ".json", encoding="utf-8") as handle:
        return json.load(handle)


class Prepared:
    """One N, set up: its simulator, its chains per variant (where, first fingerprints), its inventories."""

    def __init__(self, n: int, variants: list[str], base: str, sim: t.Any, control: t.Any) -> None:
        self.n = n
        self.variants = variants
        self.base = base
        self.sim = sim
        self.control = control
        self.names = [chains.connection_name(i) for i in range(n)]
        self.where: dict[str, str] = {}
        self.first: dict[str, dict[str, str]] = {}
        self.inventory: dict[str, str] = {}
        # (d) gets (a)'s chains after (a)'s runs instead of chains of its own (see --reuse-chains-at).
        self.d_reuses_a = False


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        chains.install_imports()
        from ansible.parsing.vault import VaultLib, VaultSecret
        from simulator.control import SimulatorProcess

        self.args = args
        self.SimulatorProcess = SimulatorProcess
        self.vault = VaultLib([("default", VaultSecret(VAULT_PASSWORD))])
        self.work = tempfile.mkdtemp(prefix="preauth-bench-")
        self.password_file = os.path.join(self.work, "vault-password")
        inventories.write_password_file(self.password_file, VAULT_PASSWORD)
        os.makedirs(os.path.join(self.work, "ansible-tmp"), mode=0o700)
        stamp = time.strftime("%Y%m%dT%H%M%S")
        self.raw = os.path.join(BENCH, "results", stamp)
        os.makedirs(self.raw, exist_ok=True)
        self.env = _env(self.work)
        self.runs: list[dict[str, t.Any]] = []
        self.notes: list[str] = []
        self.commands: list[str] = []
        self.pg: t.Any = None
        self.sims: list[t.Any] = []

    def say(self, text: str) -> None:
        print("[%s] %s" % (time.strftime("%H:%M:%S"), text), flush=True)

    def skip_b(self, n: int) -> str | None:
        """Why (b) is not run at ``n``: its projected first run exceeds the limit."""
        earlier = [r for r in self.runs if r["variant"] == "b" and r["phase"] == "refresh" and r["n"] < n and r["returncode"] == 0]
        if not earlier:
            return None
        base = max(earlier, key=lambda r: r["n"])
        projected = base["wall_s"] * n / base["n"]
        if projected <= self.args.b_limit_minutes * 60:
            return None
        return "(b) not run at N=%d: projected %.1f min for its first run from N=%d (%.1f s, scaled linearly), over the %.0f-minute limit" % (
            n,
            projected / 60,
            base["n"],
            base["wall_s"],
            self.args.b_limit_minutes,
        )

    # -- PostgreSQL for (d) ----------------------------------------------------------------

    def database(self, n: int) -> str:
        """A fresh database for ``n`` on the bench's own PostgreSQL server (started on first use); its URL, without the password."""
        if self.pg is None:
            from pgserver import PostgresServer

            started = time.monotonic()
            self.pg = PostgresServer().start()
            # tests/pgserver.py turns fsync off (a test server); a store is compared with the file store,
            # which fsyncs every write, only with its commits on disk.
            with self.pg.admin_connect() as admin:
                for setting in ("fsync", "full_page_writes"):
                    admin.execute("ALTER SYSTEM SET %s = on" % setting)
                admin.execute("SELECT pg_reload_conf()")
            # The chains are created in this process: psycopg takes the password the libpq way, as the playbook's run does.
            os.environ.update(self.pg.env)
            deadline = time.monotonic() + 10
            while True:  # the reload reaches the server a moment later
                with self.pg.admin_connect() as admin:
                    durable = [admin.execute("SHOW %s" % setting).fetchone()[0] for setting in ("fsync", "full_page_writes", "synchronous_commit")]
                if durable == ["on", "on", "on"] or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            if durable != ["on", "on", "on"]:
                raise SystemExit("the bench's PostgreSQL server does not write durably (fsync, full_page_writes, synchronous_commit: %s)" % durable)
            self.say(
                "PostgreSQL started on 127.0.0.1:%d in %.1f s (tests/pgserver.py; fsync, full_page_writes, synchronous_commit on)"
                % (self.pg.port, time.monotonic() - started)
            )
        return str(self.pg.create_database("bench_n%d" % n))

    def env_for(self, variant: str, prepared: Prepared) -> dict[str, str]:
        if variant != "d":
            return self.env
        rescue = os.path.join(self.work, "rescue")
        return dict(self.env, PREAUTH_OAUTH2_STORE_URL=prepared.where["d"], PREAUTH_OAUTH2_RESCUE_DIR=rescue, **self.pg.env)

    # -- setting up one N --------------------------------------------------------------------

    def setup(self, n: int) -> Prepared:
        variants = list(self.args.variants)
        if "b" in variants:
            why = self.skip_b(n)
            if why:
                variants.remove("b")
                self.notes.append(why)
                self.say(why)
        base = os.path.join(self.work, "n%d" % n)
        sim = self.SimulatorProcess(python=sys.executable)
        self.sims.append(sim)
        p = Prepared(n, variants, base, sim, sim.start())
        p.d_reuses_a = "d" in variants and "a" in variants and n >= self.args.reuse_chains_at
        creator = chains.Creator(sim.base_url, self.vault, workers=self.args.workers)
        try:
            for variant in variants:
                started = time.monotonic()
                p.inventory[variant] = os.path.join(base, variant + "-inventory.yml")
                os.makedirs(os.path.join(base, variant), mode=0o700, exist_ok=True)
                if variant == "e":
                    if "a" in variants:
                        p.inventory["e"] = p.inventory["a"]
                    else:  # the same inventory as (a) would have; its store is never opened
                        inventories.collection_inventory(p.inventory["e"], sim.base_url, os.path.join(base, "e", "store"), n, self.vault)
                    continue
                if variant in ("a", "d"):
                    p.where[variant] = os.path.join(base, "a", "store") if variant == "a" else self.database(n)
                    inventories.collection_inventory(p.inventory[variant], sim.base_url, p.where[variant] if variant == "a" else None, n, self.vault)
                    if variant == "d" and p.d_reuses_a:
                        continue
                    p.first[variant] = creator.many(p.where[variant], p.names)
                else:
                    scratch = os.path.join(base, variant, "scratch-store")
                    p.where[variant] = os.path.join(base, variant, "tokens")
                    p.first[variant] = creator.many(scratch, p.names)
                    chains.user_files_from_store(scratch, p.where[variant], p.names, self.vault)
                    inventories.user_inventory(p.inventory[variant], sim.base_url, p.where[variant], n, self.vault)
                self.say("N=%d: created %d chains for (%s) in %.1f s" % (n, n, variant, time.monotonic() - started))
        finally:
            creator.close()
        if n in self.args.noop_only_at:
            note = "N=%d: the chains were not aged (--noop-only-at): every access token is fresh, so (a) and (d) run only the no-op" % n
            self.notes.append(note)
            self.say(note)
            return p
        started = time.monotonic()
        p.control.advance_clock(AGE)
        for variant in p.first:
            if variant in ("a", "d"):
                chains.age_store(p.where[variant], AGE, self.vault, workers=self.args.workers)
            else:
                chains.age_user_files(p.where[variant], p.names, AGE, self.vault)
        self.say("N=%d: simulator clock and stores advanced by %d s in %.1f s" % (n, AGE, time.monotonic() - started))
        return p

    def wait_until(self, when: datetime.time) -> None:
        now = datetime.datetime.now(datetime.timezone.utc)
        start = datetime.datetime.combine(now.date(), when, tzinfo=datetime.timezone.utc)
        if start > now:
            self.say("waiting until %s UTC before the first measured run" % when.strftime("%H:%M"))
            time.sleep((start - now).total_seconds())

    # -- measuring one N -----------------------------------------------------------------------

    def move_a_to_d(self, p: Prepared) -> None:
        """Give (d) the chains (a) just refreshed: into the empty database, aged again, the simulator's clock too."""
        started = time.monotonic()
        if p.n in self.args.noop_only_at:
            chains.move_to_store(p.where["a"], p.where["d"], p.names, 0, self.vault, workers=self.args.workers)
            p.first["d"] = p.first["a"]
            note = (
                "N=%d: (d) got (a)'s chains: each record was read from (a)'s file store and written into the empty PostgreSQL database "
                "through the collection's store API (re-encrypted, with its signed facts) in %.1f s, not measured" % (p.n, time.monotonic() - started)
            )
            self.notes.append(note)
            self.say(note)
            return
        chains.move_to_store(p.where["a"], p.where["d"], p.names, AGE, self.vault, workers=self.args.workers)
        p.control.advance_clock(AGE)
        p.first["d"] = p.first["a"]
        note = (
            "N=%d: (d) refreshed (a)'s chains, not chains of its own: after (a)'s two runs each record was read from (a)'s file store, "
            "made %d s older and written into the empty PostgreSQL database through the collection's store API (re-encrypted, with its "
            "signed facts), and the simulator's clock advanced %d s again (%.1f s, not measured); so (d)'s first run is the second refresh "
            "of each chain, and its records carry one more history entry than (a)'s had" % (p.n, AGE, AGE, time.monotonic() - started)
        )
        self.notes.append(note)
        self.say(note)

    def measure(self, p: Prepared) -> None:
        try:
            for variant in [v for v in ORDER if v in p.variants]:
                if variant == "d" and p.d_reuses_a:
                    self.move_a_to_d(p)
                cmd = command(variant, p.inventory[variant], self.password_file, self.args.min_ttl)
                if p.n == self.args.sizes[-1]:
                    prefix = "PREAUTH_OAUTH2_STORE_URL=%s PGPASSWORD=(generated) " % p.where["d"] if variant == "d" else ""
                    self.commands.append(prefix + shown(cmd, self.work))
                for phase in PHASES[variant]:
                    if phase == "refresh" and p.n in self.args.noop_only_at:
                        continue
                    self.one_run(p, variant, phase, cmd)
                if p.n in self.args.profile_at and variant in ("a", "d", "e"):
                    self.profile(p, variant, cmd)
            # The runs with nothing to do again, in turns, so that a busy moment of the machine falls on every variant alike.
            for turn in range(2, self.args.repeat + 1):
                for variant in [v for v in ORDER if v in p.variants and v in ("a", "d", "e")]:
                    cmd = command(variant, p.inventory[variant], self.password_file, self.args.min_ttl)
                    self.one_run(p, variant, "bare" if variant == "e" else "no-op", cmd, turn)
            self.scan(p)
        finally:
            p.sim.stop()

    def one_run(self, p: Prepared, variant: str, phase: str, cmd: list[str], turn: int = 1) -> None:
        before = p.control.state()["token_calls_total"]
        load = load_average()
        out = os.path.join(self.raw, "n%d-%s-%s%s" % (p.n, variant, phase, "" if turn == 1 else "-%d" % turn))
        measured = measure(cmd, out, self.env_for(variant, p), p.base, self.args.run_timeout)
        state = p.control.state()
        run = dict(measured, n=p.n, variant=variant, phase=phase, turn=turn, token_calls=state["token_calls_total"] - before, load_before=load)
        if phase == "no-op":
            stored = chains.stored_fingerprints(variant, p.where[variant], p.names, self.vault)
            refreshes = 0 if p.n in self.args.noop_only_at else 2 if variant == "d" and p.d_reuses_a else 1
            run["check"] = chains.check_chains(state, p.first[variant], stored, refreshes=refreshes)
        self.runs.append(run)
        with open(out + ".json", "w", encoding="utf-8") as handle:
            json.dump(run, handle, indent=2)
        self.say(
            "N=%d (%s) %-7s %8.2f s  %5d token calls  peak RSS %4.0f MB (largest process %4.0f MB)  load %.2f  exit %s%s"
            % (
                p.n,
                variant,
                phase,
                run["wall_s"],
                run["token_calls"],
                run["tree_peak_rss_kb"] / 1024,
                run["max_process_rss_kb"] / 1024,
                load,
                "timeout" if run["timed_out"] else run["returncode"],
                "" if "check" not in run else ("  chains ok" if run["check"]["ok"] else "  CHAINS CHECK FAILED: %s" % run["check"]),
            )
        )

    def profile(self, p: Prepared, variant: str, cmd: list[str]) -> None:
        """One more no-op (or bare) run under py-spy, not measured: where its time goes (bench/pyspy_summary.py reads it)."""
        out = os.path.join(self.raw, "n%d-%s-profile" % (p.n, variant))
        spy = [shutil.which(self.args.py_spy) or self.args.py_spy, "record", "--subprocesses", "--threads", "--rate", "100", "--format", "raw"]
        spy += ["-o", out + ".txt", "--"]
        before = p.control.state()["token_calls_total"]
        started = time.monotonic()
        with open(out + ".log", "wb") as log:
            proc = subprocess.run(spy + cmd, env=self.env_for(variant, p), cwd=p.base, stdout=log, stderr=subprocess.STDOUT, check=False)
        calls = p.control.state()["token_calls_total"] - before
        self.say(
            "N=%d (%s) profiled under py-spy (not measured): %.2f s, %d token calls, exit %d, stacks in %s"
            % (p.n, variant, time.monotonic() - started, calls, proc.returncode, os.path.relpath(out + ".txt", ROOT))
        )

    def scan(self, p: Prepared) -> None:
        """The simulator knows every secret it issued: none may be in this run's logs and JSON, nor
        in any scratch file other than the vault-encrypted stores (inventories, Ansible's temp, the
        rescue directory), nor in the PostgreSQL server's log."""
        stores = [p.where[v] for v in p.variants if v in p.where]
        paths = [self.raw, os.path.join(self.work, "ansible-tmp"), os.path.join(self.work, "rescue")]
        if self.pg is not None:
            paths.append(self.pg.logfile)
        for root, dirs, files in os.walk(p.base):
            dirs[:] = [d for d in dirs if os.path.join(root, d) not in stores]
            paths.extend(os.path.join(root, name) for name in files)
        if p.n > self.args.scan_full_max_n:
            # O(secrets x bytes): at N=10,000 about 400,000 needles over 20 MB of logs and inventories, hours.
            files = [os.path.join(root, name) for path in paths if os.path.isdir(path) for root, _dirs, names in os.walk(path) for name in names]
            files += [path for path in paths if os.path.isfile(path)]
            big = [f for f in files if os.path.getsize(f) > SCAN_BIG_BYTES]
            paths = [f for f in files if f not in big]
            note = "N=%d: the secret scan skipped %d files over %d KB (%.1f MB: the runs' logs and the inventories; every file is scanned at N <= %d)" % (
                p.n,
                len(big),
                SCAN_BIG_BYTES // 1024,
                sum(os.path.getsize(f) for f in big) / 1e6,
                self.args.scan_full_max_n,
            )
            self.notes.append(note)
            self.say(note)
        started = time.monotonic()
        request = urllib.request.Request(
            p.control.base_url + "/_sim/scan", data=json.dumps({"paths": paths}).encode(), headers={"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=1800) as response:
            found = json.load(response)
        if found["leaks"]:
            kinds = sorted({"%s in %s" % (leak["kind"], os.path.basename(leak["path"])) for leak in found["leaks"]})
            raise SystemExit("secret scan: the benchmark's output holds secrets: " + "; ".join(kinds))
        self.say(
            "secret scan of %s: %d files, %d secret values looked for, none found (%.1f s)"
            % (os.path.relpath(self.raw, ROOT), found["files"], found["values"], time.monotonic() - started)
        )

    def finish(self) -> None:
        report.print_report(self.runs, self.args.sizes, self.notes)
        info = report.machine()
        report.write_markdown(self.args.results, self.runs, self.args.sizes, self.notes, self.commands, info)
        with open(os.path.join(self.raw, "summary.json"), "w", encoding="utf-8") as handle:
            json.dump({"runs": self.runs, "notes": self.notes, "machine": info, "targets": report.targets(self.runs, self.args.sizes)}, handle, indent=2)
        self.say("wrote %s and %s" % (os.path.relpath(self.args.results, ROOT), os.path.relpath(self.raw, ROOT)))

    def cleanup(self) -> None:
        for sim in self.sims:
            sim.stop()
        if self.pg is not None:
            self.pg.cleanup()
            self.say("PostgreSQL stopped and removed")
        if self.args.keep_work:
            self.say("kept the scratch directory %s" % self.work)
        else:
            shutil.rmtree(self.work, ignore_errors=True)


def main() -> int:
    args = _parse()
    bench = Bench(args)
    try:
        if args.not_before is not None:
            prepared = [bench.setup(n) for n in args.sizes]
            bench.wait_until(args.not_before)
            for p in prepared:
                bench.measure(p)
        else:
            for n in args.sizes:
                bench.measure(bench.setup(n))
        bench.finish()
    finally:
        bench.cleanup()
    failed = [r for r in bench.runs if r["returncode"] != 0 or r["timed_out"] or not r.get("check", {"ok": True})["ok"]]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
