"""Fuzz every parser that takes outside bytes, each in its own process, and record the run.

    python -m bench.fuzz                          # all targets, 100 000 inputs each
    python -m bench.fuzz sse card --count 2000    # some targets, fewer inputs
    python -m bench.fuzz --list

Targets are in bench/fuzz_targets.py. Each runs in a child process (so a crash inside a C
library is reported, and its memory is its own) with hypothesis generating `--count` inputs.
A run fails on any exception other than the parser's own refusals (a crash), on an input taking
more than `--max-seconds` of CPU (a hang), or when the child's resident memory grows by more
than `--max-growth-mib` between the end of the first batch of inputs and the end of the run
(unbounded memory). Hypothesis runs in batches of 2000 inputs: its own bookkeeping grows
with a run, and a fresh run for each batch keeps that from looking like a leak.
Writes bench/results/fuzz.json: per target the inputs, refusals by class, time, the slowest
input, peak and growth of memory, and the failure with its input if there was one.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import sys
import time
from pathlib import Path
from typing import Any

from bench.provenance import write_result

RESULT_NAME = "fuzz"
BATCH_INPUTS = 2000  # inputs per hypothesis run; each run starts with fresh bookkeeping


def rss_mib() -> float:
    """This process's resident memory now (Linux /proc; else its peak)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * resource.getpagesize() / 2**20
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Tally:
    def __init__(self, count: int, max_seconds: float) -> None:
        self.count = count
        self.max_seconds = max_seconds
        self.inputs = 0
        self.refused: dict[str, int] = {}
        self.slowest_seconds = 0.0
        self.slowest_input = ""
        self.rss_after_first_batch: float | None = None
        self.rss_by_batch: list[float] = []

    def record(self, data: Any, outcome: str | None, spent: float) -> None:
        self.inputs += 1
        if outcome is not None:
            self.refused[outcome] = self.refused.get(outcome, 0) + 1
        if spent > self.slowest_seconds:
            self.slowest_seconds, self.slowest_input = spent, repr(data)[:200]
        if spent > self.max_seconds:
            raise AssertionError(f"hang: one input took {spent:.2f} s of CPU: {repr(data)[:200]}")


def run_target(name: str, count: int, max_seconds: float) -> dict[str, Any]:
    """Run one target in this process; its summary (raises AssertionError on a crash or a hang)."""
    from hypothesis import HealthCheck, Phase, given, settings

    from bench.fuzz_targets import TARGETS

    target = TARGETS[name]
    tally = Tally(count, max_seconds)
    strategy = target.strategy()

    def batch(size: int) -> None:
        @settings(max_examples=size, deadline=None, database=None, phases=[Phase.generate, Phase.shrink],
                  suppress_health_check=list(HealthCheck))
        @given(strategy)
        def property_(data: Any) -> None:
            started = time.process_time()
            outcome = target.check(data)
            tally.record(data, outcome, time.process_time() - started)

        property_()

    started = time.perf_counter()
    while tally.inputs < count:  # in batches: hypothesis's own bookkeeping grows with a run, not with the parser
        before = tally.inputs
        batch(min(BATCH_INPUTS, count - tally.inputs))
        tally.rss_by_batch.append(round(rss_mib(), 1))
        if tally.rss_after_first_batch is None:
            tally.rss_after_first_batch = tally.rss_by_batch[0]
        if tally.inputs == before:
            break  # the strategy has nothing new to give
    seconds = time.perf_counter() - started
    end_rss = rss_mib()
    return {
        "description": target.description, "inputs": tally.inputs, "refused_by_class": dict(sorted(tally.refused.items())),
        "seconds": round(seconds, 1), "inputs_per_second": round(tally.inputs / max(seconds, 1e-9)),
        "slowest_input_cpu_ms": round(tally.slowest_seconds * 1000, 2), "slowest_input": tally.slowest_input,
        "rss_mib_after_first_batch": round(tally.rss_after_first_batch or end_rss, 1),
        "rss_mib_at_end": round(end_rss, 1), "rss_growth_mib": round(end_rss - (tally.rss_after_first_batch or end_rss), 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rss_mib_after_each_batch": tally.rss_by_batch[:60],
        "crashes": 0, "hangs": 0,
    }


def _child(name: str, count: int, max_seconds: float, results: Any) -> None:
    import logging

    logging.disable(logging.WARNING)  # parsers log their refusals: 100 000 of them say nothing here
    try:
        results.put(run_target(name, count, max_seconds))
    except BaseException as error:  # reported to the parent with its message: a crash or a hang
        results.put({"failure": f"{type(error).__name__}: {str(error)[:2000]}"})


def run_isolated(name: str, count: int, max_seconds: float, max_growth_mib: float, timeout: float) -> dict[str, Any]:
    """Run one target in a child process; its summary with "ok" and, when not ok, "failure"."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    child = context.Process(target=_child, args=(name, count, max_seconds, results), name=f"fuzz-{name}")
    child.start()
    try:
        summary = results.get(timeout=timeout)
    except Exception:  # queue.Empty: no answer in time, or the child died (a crash in C code)
        summary = {"failure": f"no result within {timeout:.0f} s (exit code {child.exitcode}): a hang or a crash"}
    child.join(30)
    if child.is_alive():
        child.kill()
    if "failure" not in summary and summary["rss_growth_mib"] > max_growth_mib:
        summary["failure"] = f"memory grew {summary['rss_growth_mib']} MiB (bound {max_growth_mib} MiB)"
    summary["ok"] = "failure" not in summary
    return summary


def main(argv: list[str] | None = None) -> int:
    from bench.fuzz_targets import TARGETS

    parser = argparse.ArgumentParser(prog="python -m bench.fuzz", description=__doc__.split("\n")[0])
    parser.add_argument("targets", nargs="*", help=f"targets to run (default: all of {', '.join(TARGETS)})")
    parser.add_argument("--count", type=int, default=100_000, help="inputs per target (default 100000)")
    parser.add_argument("--max-seconds", type=float, default=1.0, help="CPU seconds one input may take (a hang beyond)")
    parser.add_argument("--max-growth-mib", type=float, default=64.0, help="memory growth allowed after the first batch")
    parser.add_argument("--timeout", type=float, default=6 * 3600, help="wall seconds one target may take in all")
    parser.add_argument("--no-record", action="store_true", help="do not write bench/results/fuzz.json")
    parser.add_argument("--list", action="store_true", help="list the targets and exit")
    args = parser.parse_args(argv)
    if args.list:
        for name, target in TARGETS.items():
            print(f"{name:8} {target.description}")
        return 0
    unknown = set(args.targets) - set(TARGETS)
    if unknown:
        parser.error(f"unknown target(s) {', '.join(sorted(unknown))}; see --list")
    results = _previous() if args.targets else {}
    for name in args.targets or list(TARGETS):
        summary = run_isolated(name, args.count, args.max_seconds, args.max_growth_mib, args.timeout)
        summary["count_asked"] = args.count
        results[name] = summary
        print(name, json.dumps(summary), flush=True)
    if not args.no_record:
        print(f"wrote {write_result(RESULT_NAME, {'targets': results}, ['edge-voice', 'hypothesis', 'soundfile', 'markdown-it-py'])}")
    return 0 if all(summary["ok"] for summary in results.values()) else 1


def _previous() -> dict[str, Any]:
    """The targets already recorded, so a run of some targets keeps the others' results."""
    from bench.provenance import RESULTS_DIR

    try:
        return json.loads((RESULTS_DIR / f"{RESULT_NAME}.json").read_text())["targets"]
    except (OSError, ValueError, KeyError):
        return {}


if __name__ == "__main__":
    sys.exit(main())
