"""The benchmark's table, its targets (PASS/FAIL with the measured numbers) and bench/results.md."""

from __future__ import annotations

import datetime
import platform
import subprocess
import typing as t

VARIANT_TITLES = {
    "a": "(a) playbooks/refresh.yml, batch",
    "b": "(b) uri loop + vault files",
    "c": "(c) Python script, sequential (floor)",
    "d": "(d) playbooks/refresh.yml, PostgreSQL store",
    "e": "(e) bare ansible-playbook, one debug task",
}
RSS_NOTE = (
    "Peak RSS: the largest sum of VmRSS over ansible-playbook (or the script) and all its descendant "
    "processes, sampled from /proc every 50 ms by a fresh wrapper process per run (bench/measure.py); "
    "pages shared between forked workers are counted once per process, so this overstates. "
    "Max process: ru_maxrss of getrusage(RUSAGE_CHILDREN) in that wrapper, the peak of the largest single process."
)


def _mb(kb: int | None) -> str:
    return "-" if kb is None else "%.0f" % (kb / 1024)


def find(runs: list[dict[str, t.Any]], n: int, variant: str, phase: str) -> dict[str, t.Any] | None:
    """The run of ``variant``'s ``phase`` at ``n``; of repeated runs (--repeat) the one with the median wall time."""
    found = sorted((run for run in runs if run["n"] == n and run["variant"] == variant and run["phase"] == phase), key=lambda run: run["wall_s"])
    return found[(len(found) - 1) // 2] if found else None


def _usable(run: dict[str, t.Any] | None) -> bool:
    return run is not None and run["returncode"] == 0 and not run["timed_out"]


def rows(runs: list[dict[str, t.Any]]) -> list[list[str]]:
    table = [["N", "variant", "run", "wall s", "token calls", "peak RSS tree MB", "max process MB", "exit", "load before", "chains check"]]
    for run in runs:
        check = run.get("check")
        if check is None:
            verdict = "-"
        else:
            times = {0: "never", 1: "once", 2: "twice"}.get(check.get("refreshes_expected", 1), "%s times" % check.get("refreshes_expected"))
            verdict = "%s (refreshed %s %d/%d, stored=current %d/%d, alive %d/%d)" % (
                "ok" if check["ok"] else "FAILED",
                times,
                check["refreshed_as_expected"],
                check["chains"],
                check["stored_is_current"],
                check["chains"],
                check["alive"],
                check["chains"],
            )
        table.append(
            [
                str(run["n"]),
                VARIANT_TITLES[run["variant"]],
                run["phase"] if run.get("turn", 1) == 1 else "%s, turn %d" % (run["phase"], run["turn"]),
                "%.2f" % run["wall_s"],
                str(run["token_calls"]),
                _mb(run["tree_peak_rss_kb"]),
                _mb(run["max_process_rss_kb"]),
                ("timeout" if run["timed_out"] else str(run["returncode"])),
                "%.2f" % run["load_before"] if "load_before" in run else "-",
                verdict,
            ]
        )
    return table


def targets(runs: list[dict[str, t.Any]], sizes: list[int]) -> list[tuple[str, str]]:
    """(verdict, text) per target; verdict is PASS, FAIL or 'n/a' when not measured."""
    found: list[tuple[str, str]] = []

    a100, b100 = find(runs, 100, "a", "refresh"), find(runs, 100, "b", "refresh")
    name = "(a) at least 20x faster than (b) at N=100"
    if _usable(a100) and _usable(b100):
        ratio = b100["wall_s"] / a100["wall_s"]
        found.append(("PASS" if ratio >= 20 else "FAIL", "%s: (b) %.2f s / (a) %.2f s = %.1fx" % (name, b100["wall_s"], a100["wall_s"], ratio)))
    else:
        found.append(("n/a", name + ": not measured (needs successful (a) and (b) runs at N=100)"))

    a1k, c1k = find(runs, 1000, "a", "refresh"), find(runs, 1000, "c", "refresh")
    name = "(a) within 1.5x of (c) at N=1000"
    if _usable(a1k) and _usable(c1k):
        ratio = a1k["wall_s"] / c1k["wall_s"]
        found.append(("PASS" if ratio <= 1.5 else "FAIL", "%s: (a) %.2f s / (c) %.2f s = %.2fx" % (name, a1k["wall_s"], c1k["wall_s"], ratio)))
    else:
        found.append(("n/a", name + ": not measured (needs successful (a) and (c) runs at N=1000)"))

    for n in sizes:
        first, again = find(runs, n, "a", "refresh"), find(runs, n, "a", "no-op")
        name = "(a) no-op re-run at N=%d: zero token calls and under half of the first run" % n
        if _usable(first) and _usable(again):
            ok = again["token_calls"] == 0 and again["wall_s"] < first["wall_s"] / 2
            found.append(
                (
                    "PASS" if ok else "FAIL",
                    "%s: %d token calls, %.2f s vs %.2f s (%.0f%%)"
                    % (name, again["token_calls"], again["wall_s"], first["wall_s"], 100 * again["wall_s"] / first["wall_s"]),
                )
            )
        else:
            found.append(("n/a", name + ": not measured"))

    name = "(a) peak RSS under 300 MB at N=1000"
    measured = [r for r in (find(runs, 1000, "a", "refresh"), find(runs, 1000, "a", "no-op")) if _usable(r)]
    if measured:
        tree = max(r["tree_peak_rss_kb"] for r in measured) / 1024
        single = max(r["max_process_rss_kb"] for r in measured) / 1024
        found.append(("PASS" if tree < 300 else "FAIL", "%s: process tree %.0f MB (largest single process %.0f MB)" % (name, tree, single)))
    else:
        found.append(("n/a", name + ": not measured"))

    found += _store_targets(runs)
    return found


def _ratio(name: str, top: dict[str, t.Any] | None, bottom: dict[str, t.Any] | None, limit: float | None, key: str = "wall_s") -> tuple[str, str]:
    """A target (or, without ``limit``, a figure for information) comparing two runs by wall time or largest process RSS."""
    if not (_usable(top) and _usable(bottom)):
        return ("n/a", name + ": not measured")
    assert top is not None and bottom is not None
    if key == "wall_s":
        text = "%.2f s / %.2f s = %.2fx" % (top["wall_s"], bottom["wall_s"], top["wall_s"] / bottom["wall_s"])
    else:
        text = "%s MB / %s MB = %.2fx" % (_mb(top[key]), _mb(bottom[key]), top[key] / bottom[key])
    ratio = top[key] / bottom[key]
    verdict = "info" if limit is None else ("PASS" if ratio <= limit else "FAIL")
    return (verdict, "%s: %s" % (name, text))


def _store_targets(runs: list[dict[str, t.Any]]) -> list[tuple[str, str]]:
    """Issue 11: the PostgreSQL store (d) against the file store (a) and both against a bare playbook (e), from one run."""
    a1k, d1k = find(runs, 1000, "a", "refresh"), find(runs, 1000, "d", "refresh")
    e1k, e10k = find(runs, 1000, "e", "bare"), find(runs, 10000, "e", "bare")
    found = [
        _ratio("(d) first refresh within 1.2x of (a)'s at N=1000: (d) / (a)", d1k, a1k, 1.2),
        _ratio("(d) no-op within 1.2x of the bare playbook (e) at N=1000: (d) / (e)", find(runs, 1000, "d", "no-op"), e1k, 1.2),
        _ratio(
            "(a) no-op vs the bare playbook (e) at N=1000 (no target; 1.5x before the PostgreSQL store): (a) / (e)", find(runs, 1000, "a", "no-op"), e1k, None
        ),
    ]
    for variant in ("a", "d"):
        found.append(
            _ratio(
                "(%s) no-op within 1.3x of the bare playbook (e) at N=10000: (%s) / (e)" % (variant, variant), find(runs, 10000, variant, "no-op"), e10k, 1.3
            )
        )
    for variant in ("a", "d"):
        for phase in ("no-op", "refresh"):
            found.append(
                _ratio(
                    "(%s) %s: largest process's peak RSS within 1.2x of the bare playbook's (e) at N=10000" % (variant, phase),
                    find(runs, 10000, variant, phase),
                    e10k,
                    1.2,
                    key="max_process_rss_kb",
                )
            )
    return found


def ratios(runs: list[dict[str, t.Any]], sizes: list[int]) -> list[str]:
    """Per N, the first-run times side by side: (b)/(a), (a)/(c), (d)/(a); the no-op runs against the bare playbook (e)."""
    lines = []
    for n in sizes:
        a, b, c, d = (find(runs, n, v, "refresh") for v in ("a", "b", "c", "d"))
        parts = ["%s %.2f s" % (v, r["wall_s"]) for v, r in (("(a)", a), ("(b)", b), ("(c)", c), ("(d)", d)) if _usable(r)]
        if _usable(a) and _usable(b):
            parts.append("(b)/(a) %.1fx" % (b["wall_s"] / a["wall_s"]))
        if _usable(a) and _usable(c):
            parts.append("(a)/(c) %.2fx" % (a["wall_s"] / c["wall_s"]))
        if _usable(a) and _usable(d):
            parts.append("(d)/(a) %.2fx" % (d["wall_s"] / a["wall_s"]))
        if parts:
            lines.append("N=%d refresh: %s" % (n, ", ".join(parts)))
        e = find(runs, n, "e", "bare")
        if _usable(e):
            assert e is not None
            parts = ["(e) bare %.2f s, largest process %s MB" % (e["wall_s"], _mb(e["max_process_rss_kb"]))]
            for v in ("a", "d"):
                again = find(runs, n, v, "no-op")
                if _usable(again):
                    assert again is not None
                    parts.append(
                        "(%s) %.2f s = %.2fx, %s MB = %.2fx"
                        % (
                            v,
                            again["wall_s"],
                            again["wall_s"] / e["wall_s"],
                            _mb(again["max_process_rss_kb"]),
                            again["max_process_rss_kb"] / e["max_process_rss_kb"],
                        )
                    )
            lines.append("N=%d no-op vs bare: %s" % (n, ", ".join(parts)))
    return lines


def machine() -> dict[str, str]:
    def meminfo(key: str) -> str:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith(key + ":"):
                    return "%.1f GiB" % (int(line.split()[1]) / 1024 / 1024)
        return "?"

    cpu = "?"
    with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    from ansible.release import __version__ as ansible_core

    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": subprocess.run(["nproc"], capture_output=True, text=True, check=False).stdout.strip(),
        "cpu": cpu,
        "ram": meminfo("MemTotal"),
        "kernel": platform.system() + " " + platform.release(),
        "python": platform.python_version(),
        "ansible-core": ansible_core,
    }


def text_table(table: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in table]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def markdown_table(table: list[list[str]]) -> str:
    lines = ["| " + " | ".join(table[0]) + " |", "|" + "|".join(["---"] * len(table[0])) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in table[1:]]
    return "\n".join(lines)


def write_markdown(path: str, runs: list[dict[str, t.Any]], sizes: list[int], notes: list[str], commands: list[str], info: dict[str, str]) -> None:
    table = rows(runs)
    parts = [
        "# Benchmark: keeping refresh-token chains alive",
        "",
        "Written by `bench/run.py` (`make bench`); raw JSON per run in `bench/results/` (not committed).",
        "N controller-owned chains on the local simulator (`rotating_strict` profile through platform `generic`,"
        " 127.0.0.1), all with an expired access token (simulator clock and stores advanced by 3601 s);"
        " each variant refreshes its own chains (`refresh`), then runs again at once (`no-op`)."
        " Token calls come from the simulator's `GET /_sim/state` counters.",
        "",
        markdown_table(table),
        "",
        "## Targets",
        "",
    ]
    parts += ["- **%s** %s" % (verdict, text) for verdict, text in targets(runs, sizes)]
    parts += ["", "Side by side:", ""] + ["- " + line for line in ratios(runs, sizes)]
    if notes:
        parts += ["", "## Notes", ""] + ["- " + note for note in notes]
    parts += ["", "## How it was measured", "", "- " + RSS_NOTE, "- Wall time: monotonic clock around the whole process, start to exit."]
    loads = [r["load_before"] for r in runs if "load_before" in r]
    if loads:
        parts.append(
            "- 1-minute load average just before each run: %.2f to %.2f (on %s CPUs; the simulator shares them)."
            % (min(loads), max(loads), info.get("nproc", "?"))
        )
    parts += ["", "Commands (per N, run from a scratch directory):", "", "```"] + commands + ["```"]
    parts += ["", "## Machine", ""] + ["- %s: %s" % (key, value) for key, value in info.items()]
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(parts) + "\n")


def print_report(runs: list[dict[str, t.Any]], sizes: list[int], notes: list[str]) -> None:
    print()
    print(text_table(rows(runs)))
    print()
    for verdict, text in targets(runs, sizes):
        print("%-4s %s" % (verdict, text))
    print()
    for line in ratios(runs, sizes):
        print(line)
    for note in notes:
        print("note: " + note)
    print()
    print(RSS_NOTE)
