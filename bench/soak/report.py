"""The soak's figures from what it recorded: turns and latency, memory and descriptors per runtime
start, the LLM's phases, and the targets (issue 19): every alert rung, no acknowledged row lost,
RSS growth under 10 %, no descriptor growth.
"""

from __future__ import annotations

from collections import Counter
from statistics import median
from typing import Any

import numpy as np

from bench.soak.record import Record

RSS_GROWTH_TARGET_PCT = 10.0
WARM_UP_FRACTION = 1 / 3  # the first third of each start's time under load fills models, caches, connections
WINDOW_FRACTION = 0.2  # memory and descriptors: the first and last fifth of a start's warm samples are compared
MIN_WARM_SAMPLES = 30  # seconds of warm samples a start needs to be judged (the 60 s CI run's starts live ~20 s:
#                        warm-up, not a verdict; the 10-minute run judges every start)


def latency_stats(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    return {"n": len(values), "p50": round(float(np.percentile(values, 50)), 1),
            "p95": round(float(np.percentile(values, 95)), 1), "max": round(max(values), 1)}


def turn_figures(record: Record) -> dict[str, Any]:
    turns = record.turns
    answered = [turn for turn in turns if turn.answered]
    by_kind = {kind: {"asked": sum(t.kind == kind for t in turns), "served": sum(t.kind == kind for t in answered),
                      "latency_ms": latency_stats([t.latency_ms for t in answered if t.kind == kind and t.latency_ms is not None])}
               for kind in sorted({turn.kind for turn in turns})}
    return {
        "asked": len(turns), "served": len(answered),
        "not_served": dict(Counter(turn.error or "no-reply-audio" for turn in turns if not turn.answered)),
        "by_kind": by_kind,
        "latency_ms": latency_stats([turn.latency_ms for turn in answered if turn.latency_ms is not None]),
        "latency_ms_uart_board": latency_stats([t.latency_ms for t in answered if t.satellite == "uart-board"
                                                and t.latency_ms is not None]),
    }


def _window(samples: list[dict[str, Any]], key: str) -> tuple[float, float]:
    size = max(1, int(len(samples) * WINDOW_FRACTION))
    return median(sample[key] for sample in samples[:size]), median(sample[key] for sample in samples[-size:])


def _listing_change(first: dict[str, Any], last: dict[str, Any]) -> dict[str, int]:
    """Which kinds of descriptor the process held more (+) or fewer (-) of at the end than when warm."""
    before, after = Counter(first.get("fd_listing", {})), Counter(last.get("fd_listing", {}))
    return {what: after[what] - before[what] for what in sorted(set(before) | set(after)) if after[what] != before[what]}


def resource_figures(samples: list[dict[str, Any]], starts: list[dict[str, Any]],
                     load_until: float) -> list[dict[str, Any]]:
    """Per runtime start: RSS and descriptors over its warm part of the load (after the first third;
    medians of the first and last fifth of the rest, so one busy moment does not read as growth)."""
    figures = []
    for incarnation, start in enumerate(starts):
        mine = [sample for sample in samples if sample["pid"] == start["pid"]]
        loaded = [sample for sample in mine if sample["at"] <= load_until]
        warm = loaded[int(len(loaded) * WARM_UP_FRACTION):]
        figure: dict[str, Any] = {
            "start": incarnation, "ready_seconds": start["ready_seconds"], "samples": len(mine),
            "warm_samples": len(warm), "warm_seconds": round(warm[-1]["at"] - warm[0]["at"], 1) if warm else 0.0,
            "rss_mib_first": mine[0]["rss_mib"] if mine else None, "rss_mib_max": max((s["rss_mib"] for s in mine), default=None),
            "fds_first": mine[0]["fds"] if mine else None, "fds_last": mine[-1]["fds"] if mine else None,
            "fds_max": max((s["fds"] for s in mine), default=None),
        }
        if len(warm) >= MIN_WARM_SAMPLES:
            rss_start, rss_end = _window(warm, "rss_mib")
            fds_start, fds_end = _window(warm, "fds")
            figure.update({
                "rss_mib_warm": rss_start, "rss_mib_end": rss_end,
                "rss_growth_pct": round(100 * (rss_end - rss_start) / rss_start, 2),
                "fds_warm": fds_start, "fds_end": fds_end, "fds_growth": fds_end - fds_start,
                "fds_changed": _listing_change(warm[0], warm[-1]),
            })
        figures.append(figure)
    return figures


def targets(rows: list[dict[str, Any]], alerts: dict[str, Any], resources: list[dict[str, Any]]) -> dict[str, Any]:
    judged = [figure for figure in resources if "rss_growth_pct" in figure]
    return {
        "alerts_rung_pct": round(100 * alerts["rung"] / alerts["due"], 1) if alerts["due"] else None,
        "all_alerts_rung": alerts["due"] > 0 and alerts["rung"] == alerts["due"],
        "committed_rows_lost": sum(check["lost"] for check in rows),
        "no_committed_row_lost": bool(rows) and all(check["lost"] == 0 for check in rows),
        "rss_growth_pct_worst": max((f["rss_growth_pct"] for f in judged), default=None),
        "rss_growth_under_10_pct": all(f["rss_growth_pct"] < RSS_GROWTH_TARGET_PCT for f in judged) if judged else None,
        "fd_growth_worst": max((f["fds_growth"] for f in judged), default=None),
        "no_fd_growth": all(f["fds_growth"] <= 0 for f in judged) if judged else None,
        # what grew, where something did: connections to a live server (the LLM's, mid-request when
        # the window closed) are in use, not leaked; a file, pipe or other socket would be a leak
        "fd_growth_only_live_connections": all(
            all(what.startswith("tcp established to ") for what, change in f["fds_changed"].items() if change > 0)
            for f in judged if f["fds_growth"] > 0) if judged else None,
        "starts_judged_for_memory": [f["start"] for f in judged],
    }
