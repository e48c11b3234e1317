"""Run one command and measure it: wall time, peak RSS of its process tree, exit code.

    python bench/measure.py --out RUN.json --log RUN.log [--timeout S] -- COMMAND ...

A fresh process per measured run, so that ``getrusage(RUSAGE_CHILDREN)`` covers that run only.
Two memory figures:

* ``tree_peak_rss_kb``: the largest sum of VmRSS over the command and all its descendants,
  sampled from /proc every 50 ms. Conservative: pages shared between forked workers and their
  parent are counted once per process, and a peak shorter than 50 ms can be missed.
* ``max_process_rss_kb``: ``ru_maxrss`` of ``RUSAGE_CHILDREN`` after the command was waited for:
  the peak RSS of the largest single process of the tree (exact, never missed, never summed).

The command's output goes to ``--log`` only; nothing of it is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import threading
import time

PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def _parents() -> dict[int, int]:
    """pid -> ppid of every process visible in /proc."""
    found: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name, "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        # The command name (field 2) is in parentheses and may contain spaces.
        rest = stat[stat.rfind(b")") + 2 :].split()
        found[int(name)] = int(rest[1])
    return found


def _rss_kb(pid: int) -> int:
    try:
        with open("/proc/%d/statm" % pid, "rb") as handle:
            return int(handle.read().split()[1]) * PAGE_KB
    except (OSError, IndexError, ValueError):
        return 0


def tree_rss_kb(root: int) -> tuple[int, int]:
    """(sum of RSS, number of processes) of ``root`` and its descendants right now."""
    parents = _parents()
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    total, count, todo = 0, 0, [root]
    while todo:
        pid = todo.pop()
        total += _rss_kb(pid)
        count += 1
        todo.extend(children.get(pid, ()))
    return total, count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="JSON file for the measurements")
    parser.add_argument("--log", required=True, help="file for the command's stdout and stderr")
    parser.add_argument("--timeout", type=float, default=3600.0, help="kill the command after this many seconds")
    parser.add_argument("--interval", type=float, default=0.05, help="/proc sampling interval in seconds")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command after --")

    peak = {"rss": 0, "processes": 0, "samples": 0}
    done = threading.Event()
    with open(args.log, "wb") as log:
        started = time.monotonic()
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)

        def sample() -> None:
            while not done.is_set():
                rss, count = tree_rss_kb(proc.pid)
                peak["samples"] += 1
                peak["rss"] = max(peak["rss"], rss)
                peak["processes"] = max(peak["processes"], count)
                done.wait(args.interval)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        timed_out = False
        try:
            returncode = proc.wait(timeout=args.timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(proc.pid, signal.SIGKILL)
            returncode = proc.wait()
        wall = time.monotonic() - started
        done.set()
        sampler.join()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = {
        "command": [os.path.basename(command[0])] + command[1:],
        "returncode": returncode,
        "timed_out": timed_out,
        "wall_s": round(wall, 3),
        "tree_peak_rss_kb": peak["rss"],
        "tree_max_processes": peak["processes"],
        "rss_samples": peak["samples"],
        "max_process_rss_kb": usage.ru_maxrss,
        "user_cpu_s": round(usage.ru_utime, 3),
        "system_cpu_s": round(usage.ru_stime, 3),
    }
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump(result, handle, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
