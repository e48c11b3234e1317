"""Where the time of one profiled run went: seconds per phase from a py-spy raw file.

    python bench/pyspy_summary.py bench/results/<stamp>/n10000-a-profile.txt [--rate 100]

``bench/run.py --profile-at N`` records (a), (d) and (e) once more under ``py-spy record
--subprocesses --threads --format raw``. Each sample of a thread is one line of stack frames; a
phase gets a sample when its marker is in the stack (the first phase that matches, in the order
below). The main thread of ansible-playbook and of each forked worker are counted as wall time; the
token_refresh action's pool threads are counted apart, as thread-seconds (they run side by side).
py-spy leaves out idle samples (a thread sleeping or waiting), so a controller that waits for its
worker adds little; the phases are close to, not exactly, a division of the wall time.
"""

from __future__ import annotations

import argparse
import collections
import re

# (phase, marker): the first marker found in a sample's stack names its phase.
PHASES = (
    ("worker: token_refresh's thread pool (store reads, decisions, token calls; thread-seconds)", "_WorkItem.run"),
    ("worker: token_refresh templating its arguments (finalize_task_arg)", "finalize_task_arg"),
    ("worker: templating the task (post_validate)", "post_validate"),
    ("worker: token_refresh action, rest (argument checks, building the result)", "PreauthAction.run ("),
    ("worker: registering the result (templating it)", "finalize_registered_values"),
    ("worker: sending the result to the controller (pickling)", "send_task_result"),
    ("worker: evaluating conditions (when, assert)", "evaluate_conditional"),
    ("worker: the other tasks' actions (debug, assert)", "ActionModule.run ("),
    ("worker: other (task set-up, plugin loading)", "WorkerProcess.run"),
    ("controller: parsing the inventory", "InventoryManager.__init__"),
    ("controller: loading the playbook", "Playbook.load"),
    ("controller: forking workers", "WorkerProcess.start"),
    ("controller: results and callbacks", "_process_pending_results"),
    ("controller: waiting for workers", "_wait_on_pending_results"),
    ("controller: variables", "VariableManager.get_vars"),
    ("controller: running plays, rest", "PlaybookExecutor.run"),
    ("controller: start-up and imports", "<module>"),
)

OTHER = "other"
NO_FRAME = "no Python frame (interpreter start-up and exit)"


def summarize(path: str, rate: float) -> list[tuple[str, float]]:
    per_thread: collections.Counter[tuple[str, str]] = collections.Counter()
    lines = []
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            stack, _sep, count = line.rstrip("\n").rpartition(" ")
            frames = stack.split(";")
            if not count.isdigit():
                continue
            # A forked worker's samples start with its parent's "process" frame, then its own.
            depth = 0
            while depth < len(frames) and frames[depth].startswith("process "):
                depth += 1
            if depth == 0:
                continue
            process = re.sub(r":.*", "", frames[depth - 1])
            thread = frames[depth] if depth < len(frames) and frames[depth].startswith("thread ") else "thread ?"
            rest = frames[depth + 1 :] if thread != "thread ?" else frames[depth:]
            per_thread[(process, thread)] += int(count)
            lines.append((process, thread, rest, int(count)))
    # The main thread of each process is its busiest thread that is not a pool thread.
    main: dict[str, tuple[str, int]] = {}
    for (process, thread), count in per_thread.items():
        if count > main.get(process, ("", -1))[1]:
            main[process] = (thread, count)
    totals: collections.Counter[str] = collections.Counter()
    for process, thread, frames, count in lines:
        text = ";".join(frames)
        if main[process][0] != thread and "_WorkItem.run" not in text:
            continue  # the controller's results thread and other helpers: they wait for the main thread
        for phase, marker in PHASES:
            if marker in text:
                totals[phase] += count
                break
        else:
            totals[OTHER if frames else NO_FRAME] += count
    return [(phase, totals[phase] / rate) for phase in [name for name, _marker in PHASES] + [OTHER, NO_FRAME] if totals[phase]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("raw", help="a py-spy raw file (bench/results/<stamp>/n<N>-<variant>-profile.txt)")
    parser.add_argument("--rate", type=float, default=100.0, help="the sampling rate it was recorded with (bench/run.py: 100)")
    args = parser.parse_args()
    for phase, seconds in summarize(args.raw, args.rate):
        print("%8.2f s  %s" % (seconds, phase))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
