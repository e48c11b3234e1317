"""Benchmark: refreshing N controller-owned chains with the collection, a user playbook, and a script.

    .venv/bin/python bench/run.py [--sizes 10,100,1000] [--variants a,b,c]     (make bench)

Per N: start the simulator, create N chains per variant with the collection's own code (a
scripted sign-in through the simulator for each), advance the simulator's clock and age every
store by 3601 s so that every access token has expired, then run each variant twice (``refresh``
and, at once, ``no-op``) under bench/measure.py: wall time, peak RSS, token calls (simulator
counters), and a check that every chain was refreshed exactly once, is alive, and that the token
the variant stored is the current one. Prints a table and PASS/FAIL per target, writes
bench/results.md and raw JSON in bench/results/. Everything runs on 127.0.0.1; no token is printed.

Variants: (a) playbooks/refresh.yml; (b) bench/naive_refresh.yml; (c) bench/floor.py.
"""

from __future__ import annotations

import argparse
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


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10,100,1000", help="comma-separated numbers of chains (default: 10,100,1000)")
    parser.add_argument("--variants", default="a,b,c", help="comma-separated subset of a,b,c (default: all)")
    parser.add_argument("--min-ttl", type=int, default=600, help="refresh when the access token has less than this many seconds left")
    parser.add_argument("--b-limit-minutes", type=float, default=15.0, help="skip (b) at an N whose projected first run takes longer")
    parser.add_argument("--workers", type=int, default=4, help="threads that create chains (setup only, not measured)")
    parser.add_argument("--run-timeout", type=float, default=3600.0, help="kill a measured run after this many seconds")
    parser.add_argument("--results", default=os.path.join(BENCH, "results.md"), help="markdown report (default: bench/results.md)")
    parser.add_argument("--keep-work", action="store_true", help="keep the scratch directory with stores and inventories")
    args = parser.parse_args()
    try:
        args.sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    except ValueError:
        parser.error("--sizes takes numbers such as 10,100,1000")
    if not args.sizes or min(args.sizes) < 1:
        parser.error("--sizes needs at least one number of chains, each 1 or more")
    wanted = {x.strip() for x in args.variants.split(",") if x.strip()}
    args.variants = [v for v in ("a", "b", "c") if v in wanted]
    if not args.variants or wanted - {"a", "b", "c"}:
        parser.error("--variants takes a comma-separated subset of a,b,c")
    if "a" in args.variants:
        missing = [p for p in ("plugins/action/token_refresh.py", "playbooks/refresh.yml") if not os.path.exists(os.path.join(ROOT, p))]
        if missing:
            parser.error("variant (a) needs %s, which does not exist yet; run with --variants b,c" % " and ".join(missing))
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
    for name in ("ANSIBLE_CONFIG", "ANSIBLE_VAULT_PASSWORD_FILE", "ANSIBLE_VAULT_IDENTITY_LIST"):
        env.pop(name, None)
    return env


def command(variant: str, inventory: str, password_file: str, min_ttl: int) -> list[str]:
    if variant == "a":
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

    def size(self, n: int) -> None:
        variants = list(self.args.variants)
        if "b" in variants:
            why = self.skip_b(n)
            if why:
                variants.remove("b")
                self.notes.append(why)
                self.say(why)
        names = [chains.connection_name(i) for i in range(n)]
        base = os.path.join(self.work, "n%d" % n)
        sim = self.SimulatorProcess(python=sys.executable)
        control = sim.start()
        try:
            creator = chains.Creator(sim.base_url, self.vault, workers=self.args.workers)
            first: dict[str, dict[str, str]] = {}
            where: dict[str, str] = {}
            inventory: dict[str, str] = {}
            for variant in variants:
                started = time.monotonic()
                inventory[variant] = os.path.join(base, variant + "-inventory.yml")
                os.makedirs(os.path.join(base, variant), mode=0o700, exist_ok=True)
                if variant == "a":
                    where[variant] = os.path.join(base, "a", "store")
                    first[variant] = creator.many(where[variant], names)
                    inventories.collection_inventory(inventory[variant], sim.base_url, where[variant], n, self.vault)
                else:
                    scratch = os.path.join(base, variant, "scratch-store")
                    where[variant] = os.path.join(base, variant, "tokens")
                    first[variant] = creator.many(scratch, names)
                    chains.user_files_from_store(scratch, where[variant], names, self.vault)
                    inventories.user_inventory(inventory[variant], sim.base_url, where[variant], n, self.vault)
                self.say("N=%d: created %d chains for (%s) in %.1f s" % (n, n, variant, time.monotonic() - started))
            started = time.monotonic()
            control.advance_clock(AGE)
            for variant in variants:
                if variant == "a":
                    chains.age_store(where[variant], AGE, self.vault)
                else:
                    chains.age_user_files(where[variant], names, AGE, self.vault)
            self.say("N=%d: simulator clock and stores advanced by %d s in %.1f s" % (n, AGE, time.monotonic() - started))
            for variant in variants:
                cmd = command(variant, inventory[variant], self.password_file, self.args.min_ttl)
                if n == self.args.sizes[-1]:
                    self.commands.append(shown(cmd, self.work))
                for phase in ("refresh", "no-op"):
                    before = control.state()["token_calls_total"]
                    load = load_average()
                    out = os.path.join(self.raw, "n%d-%s-%s" % (n, variant, phase))
                    measured = measure(cmd, out, self.env, base, self.args.run_timeout)
                    state = control.state()
                    run = dict(measured, n=n, variant=variant, phase=phase, token_calls=state["token_calls_total"] - before, load_before=load)
                    if phase == "no-op":
                        stored = chains.stored_fingerprints(variant, where[variant], names, self.vault)
                        run["check"] = chains.check_chains(state, first[variant], stored, refreshes=1)
                    self.runs.append(run)
                    with open(out + ".json", "w", encoding="utf-8") as handle:
                        json.dump(run, handle, indent=2)
                    self.say(
                        "N=%d (%s) %-7s %8.2f s  %5d token calls  peak RSS %4.0f MB  exit %s%s"
                        % (
                            n,
                            variant,
                            phase,
                            run["wall_s"],
                            run["token_calls"],
                            run["tree_peak_rss_kb"] / 1024,
                            "timeout" if run["timed_out"] else run["returncode"],
                            "" if "check" not in run else ("  chains ok" if run["check"]["ok"] else "  CHAINS CHECK FAILED: %s" % run["check"]),
                        )
                    )
            self.scan(control, base, [where[v] for v in variants])
        finally:
            sim.stop()

    def scan(self, control: t.Any, base: str, stores: list[str]) -> None:
        """The simulator knows every secret it issued: none may be in this run's logs and JSON, nor
        in any scratch file other than the vault-encrypted stores (inventories, Ansible's temp)."""
        paths = [self.raw, os.path.join(self.work, "ansible-tmp")]
        for root, dirs, files in os.walk(base):
            dirs[:] = [d for d in dirs if os.path.join(root, d) not in stores]
            paths.extend(os.path.join(root, name) for name in files)
        request = urllib.request.Request(
            control.base_url + "/_sim/scan", data=json.dumps({"paths": paths}).encode(), headers={"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=600) as response:
            found = json.load(response)
        if found["leaks"]:
            kinds = sorted({"%s in %s" % (leak["kind"], os.path.basename(leak["path"])) for leak in found["leaks"]})
            raise SystemExit("secret scan: the benchmark's output holds secrets: " + "; ".join(kinds))
        self.say("secret scan of %s: %d files, %d secret values looked for, none found" % (os.path.relpath(self.raw, ROOT), found["files"], found["values"]))

    def finish(self) -> None:
        report.print_report(self.runs, self.args.sizes, self.notes)
        info = report.machine()
        report.write_markdown(self.args.results, self.runs, self.args.sizes, self.notes, self.commands, info)
        with open(os.path.join(self.raw, "summary.json"), "w", encoding="utf-8") as handle:
            json.dump({"runs": self.runs, "notes": self.notes, "machine": info, "targets": report.targets(self.runs, self.args.sizes)}, handle, indent=2)
        self.say("wrote %s and %s" % (os.path.relpath(self.args.results, ROOT), os.path.relpath(self.raw, ROOT)))

    def cleanup(self) -> None:
        if self.args.keep_work:
            self.say("kept the scratch directory %s" % self.work)
        else:
            shutil.rmtree(self.work, ignore_errors=True)


def main() -> int:
    args = _parse()
    bench = Bench(args)
    try:
        for n in args.sizes:
            bench.size(n)
        bench.finish()
    finally:
        bench.cleanup()
    failed = [r for r in bench.runs if r["returncode"] != 0 or r["timed_out"] or not r.get("check", {"ok": True})["ok"]]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
