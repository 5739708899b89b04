"""A side-by-side evaluation report for several models on one dataset (e.g. the teacher, the
fp32 student and the INT8 bundle): `report.json`, `report.md`, a self-contained `report.html`
and `confusion.png`.

    from distill.bundle_eval import evaluate_examples
    from distill.report import ModelColumn, write_report

    result = evaluate_examples(bundle, examples, keep_predictions=True)
    column = ModelColumn.from_evaluation("INT8 student", result, [e.intent for e in examples])
    write_report(Path("runs/report"), "HWU64 test", [teacher, fp32, column], notes=["..."])

Metric keys are those of `distill.bundle_eval.evaluate_examples`; a table row appears for every
key some column has ("n/a" where a column lacks it). The confusion plot shows one panel per
model over the same labels: all of them for small label sets, otherwise only the labels of the
most frequent confusions (CLINC150 has 151 labels: a 151 x 151 matrix is unreadable).
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import platform
import shlex
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# (metric key, row label, decimals); the key names of distill.bundle_eval.evaluate_examples
ROWS = (
    ("items", "items", 0),
    ("accuracy", "accuracy", 4),
    ("macro_f1", "macro-F1", 4),
    ("oos_recall", "OOS recall", 4),
    ("oos_precision", "OOS precision", 4),
    ("slot_f1", "slot F1", 4),
    ("ece", "calibration error (ECE)", 4),
    ("size_mb", "size (MB)", 2),
    ("bundle_size_mb", "bundle, all files (MB)", 2),
    ("ms_per_query_mean", "ms/query (1 thread)", 2),
    ("ms_per_query_p95", "ms/query p95 (1 thread)", 2),
)
MAX_PLOT_LABELS = 20  # labels on each axis of the confusion plot
MAX_PAIRS = 15  # rows of the most-confused table
PLOT_LABEL_CHARS = 28  # longer label names are shortened on the plot axes


@dataclass(frozen=True)
class ModelColumn:
    name: str  # column heading, e.g. "INT8 student"
    metrics: dict[str, float | None]  # evaluate_examples keys: accuracy, macro_f1, ...
    gold: list[str]  # gold intent per example
    predicted: list[str]  # decided intent per example, same order (the OOS label for rejections)

    @classmethod
    def from_evaluation(cls, name: str, result: dict[str, Any], gold: Sequence[str]) -> ModelColumn:
        """A column from `evaluate_examples(..., keep_predictions=True)`; numeric metrics only."""
        if "predicted" not in result:
            raise ValueError(f"{name}: evaluate with keep_predictions=True to get per-item predictions")
        metrics = {k: v for k, v in result.items() if v is None or (isinstance(v, int | float) and k != "predicted")}
        return cls(name, metrics, list(gold), list(result["predicted"]))

    def confusions(self) -> Counter[tuple[str, str]]:
        """(gold, predicted) -> count, wrong decisions only."""
        return Counter((g, p) for g, p in zip(self.gold, self.predicted, strict=True) if g != p)


def write_report(
    out_dir: Path,
    title: str,
    columns: list[ModelColumn],
    notes: Sequence[str] = (),
    command: str | None = None,
) -> dict[str, Path]:
    """Write report.json, report.md, report.html and confusion.png into `out_dir`; returns their paths
    keyed "json", "markdown", "html", "confusion". `command` defaults to this process's command line."""
    _check_columns(columns)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": out_dir / "report.json",
        "markdown": out_dir / "report.md",
        "html": out_dir / "report.html",
        "confusion": out_dir / "confusion.png",
    }
    pairs = ranked_pairs(columns)
    labels = plot_labels(columns, pairs)
    png = confusion_png(columns, labels)
    paths["confusion"].write_bytes(png)
    rows = table_rows(columns)
    top = pairs[:MAX_PAIRS]
    paths["json"].write_text(
        json.dumps(_json(title, columns, notes, rows, top, labels, command), indent=2, allow_nan=False) + "\n"
    )
    paths["markdown"].write_text(_markdown(title, columns, notes, rows, top, paths["confusion"].name))
    paths["html"].write_text(_html(title, columns, notes, rows, top, png), encoding="utf-8")
    return paths


def _check_columns(columns: Sequence[ModelColumn]) -> None:
    if not columns:
        raise ValueError("a report needs at least one model column")
    names = [c.name for c in columns]
    if len(set(names)) != len(names):
        raise ValueError(f"model column names must be unique, got {names}")
    for column in columns:
        if len(column.gold) != len(column.predicted):
            raise ValueError(f"{column.name}: {len(column.gold)} gold labels but {len(column.predicted)} predictions")


def cell(value: Any, decimals: int) -> str:
    """A table cell: 'n/a' for missing values, fixed decimals for numbers."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return str(int(value)) if decimals == 0 else f"{value:.{decimals}f}"


def table_rows(columns: Sequence[ModelColumn]) -> list[tuple[str, str, list[str]]]:
    """(metric key, row label, one cell per column) for every ROWS key some column has."""
    return [
        (key, label, [cell(c.metrics.get(key), decimals) for c in columns])
        for key, label, decimals in ROWS
        if any(key in c.metrics for c in columns)
    ]


def ranked_pairs(columns: Sequence[ModelColumn]) -> list[tuple[str, str, list[int]]]:
    """Every confused (gold, predicted) pair with its count per column, most frequent (summed) first."""
    counts = [c.confusions() for c in columns]
    keys = set().union(*counts)
    ranked = sorted(keys, key=lambda pair: (-sum(count[pair] for count in counts), pair))
    return [(gold, predicted, [count[(gold, predicted)] for count in counts]) for gold, predicted in ranked]


def plot_labels(
    columns: Sequence[ModelColumn], pairs: Sequence[tuple[str, str, list[int]]], limit: int = MAX_PLOT_LABELS
) -> list[str]:
    """All labels when there are at most `limit`; else the labels of the most frequent confusions."""
    every = sorted({label for c in columns for label in (*c.gold, *c.predicted)})
    if len(every) <= limit:
        return every
    chosen: list[str] = []
    for gold, predicted, _ in pairs:
        for label in (gold, predicted):
            if label not in chosen and len(chosen) < limit:
                chosen.append(label)
        if len(chosen) >= limit:
            break
    return sorted(chosen)


def confusion_png(columns: Sequence[ModelColumn], labels: Sequence[str]) -> bytes:
    """One confusion panel per column (rows gold, columns predicted) over `labels`; the diagonal
    (correct) is grey, wrong decisions coloured by count; every non-zero cell shows its count."""
    try:
        import numpy as np
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError("the confusion plot needs matplotlib: pip install -e '.[distill]'") from error

    size = max(len(labels), 1)
    matrices = [_matrix(column, labels, size) for column in columns]
    hidden = [np.eye(size, dtype=bool) | (matrix == 0) for matrix in matrices]
    top = max([1] + [int(m[~h].max()) for m, h in zip(matrices, hidden, strict=True) if (~h).any()])
    short = [label if len(label) <= PLOT_LABEL_CHARS else label[: PLOT_LABEL_CHARS - 1] + "…" for label in labels]
    figure = Figure(figsize=(3.5 + 0.42 * size, len(columns) * (2.8 + 0.42 * size)), layout="constrained")
    for number, column in enumerate(columns):
        axes = figure.add_subplot(len(columns), 1, number + 1)
        axes.set_facecolor("#f4f4f4")
        shown = np.ma.masked_array(matrices[number], mask=hidden[number])
        image = axes.imshow(shown, cmap="Reds", vmin=0, vmax=top, aspect="equal")
        for (row, col), count in np.ndenumerate(matrices[number]):
            if count:
                colour = "#555555" if row == col else "white" if count > top / 2 else "black"
                axes.text(col, row, str(count), ha="center", va="center", fontsize=7, color=colour)
        axes.set_xticks(range(len(labels)), short, rotation=90, fontsize=8)
        axes.set_yticks(range(len(labels)), short, fontsize=8)
        axes.set_xlabel("predicted")
        axes.set_ylabel("gold")
        wrong_total = sum(column.confusions().values())
        axes.set_title(
            f"{column.name}: {wrong_total} wrong of {len(column.gold)} (grey diagonal: correct)", fontsize=10
        )
        bar = figure.colorbar(image, ax=axes, shrink=0.6, label="wrong decisions")
        bar.ax.yaxis.get_major_locator().set_params(integer=True)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _matrix(column: ModelColumn, labels: Sequence[str], size: int):
    import numpy as np

    index = {label: i for i, label in enumerate(labels)}
    matrix = np.zeros((size, size), dtype=int)
    for gold, predicted in zip(column.gold, column.predicted, strict=True):
        if gold in index and predicted in index:
            matrix[index[gold], index[predicted]] += 1
    return matrix


def _json(title, columns, notes, rows, pairs, labels, command) -> dict[str, Any]:
    return {
        "title": title,
        "notes": list(notes),
        "columns": [
            {
                "name": c.name,
                "items": len(c.gold),
                "metrics": {k: _finite(v) for k, v in c.metrics.items()},
                "confusions": [[g, p, n] for (g, p), n in sorted(c.confusions().items())],
            }
            for c in columns
        ],
        "table": [{"metric": key, "label": label, "cells": cells} for key, label, cells in rows],
        "most_confused": [
            {"gold": g, "predicted": p, "counts": dict(zip([c.name for c in columns], counts, strict=True))}
            for g, p, counts in pairs
        ],
        "plot_labels": list(labels),
        "provenance": _provenance(command),
    }


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _provenance(command: str | None) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for package in ("onnxruntime", "matplotlib", "edge-voice"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "not installed"
    return {
        "command": command if command is not None else shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {platform.system()} {platform.release()}",
        **versions,
    }


def _md_text(text: str) -> str:
    """Text for a Markdown table cell: no raw HTML, no column breaks, one line."""
    return html.escape(text, quote=False).replace("|", "\\|").replace("\n", " ")


def _markdown(title, columns, notes, rows, pairs, png_name) -> str:
    names = [_md_text(c.name) for c in columns]
    lines = [f"# {_md_text(title)}", ""]
    lines += [f"- {_md_text(note)}" for note in notes] + ([""] if notes else [])
    lines += ["| metric | " + " | ".join(names) + " |", "| --- |" + " ---: |" * len(names)]
    lines += [f"| {label} | " + " | ".join(cells) + " |" for _, label, cells in rows]
    lines += [
        "",
        f"![confusion matrix of the most-confused labels]({png_name})",
        "",
        "## Most-confused label pairs",
        "",
    ]
    if pairs:
        lines += ["| gold | predicted | " + " | ".join(names) + " |", "| --- | --- |" + " ---: |" * len(names)]
        lines += [f"| {_md_text(g)} | {_md_text(p)} | " + " | ".join(map(str, n)) + " |" for g, p, n in pairs]
    else:
        lines.append("No confusions: every model decided every item correctly.")
    return "\n".join(lines) + "\n"


STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:80em}"
    "table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:.3em .7em}"
    "td.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#f0f0f0}img{max-width:100%}"
)


def _html(title, columns, notes, rows, pairs, png: bytes) -> str:
    e = html.escape
    head = "".join(f"<th>{e(c.name)}</th>" for c in columns)
    body = "".join(
        f"<tr><th>{e(label)}</th>" + "".join(f'<td class="n">{e(v)}</td>' for v in cells) + "</tr>"
        for _, label, cells in rows
    )
    note_list = "<ul>" + "".join(f"<li>{e(n)}</li>" for n in notes) + "</ul>" if notes else ""
    if pairs:
        pair_rows = "".join(
            f"<tr><td>{e(g)}</td><td>{e(p)}</td>" + "".join(f'<td class="n">{n}</td>' for n in counts) + "</tr>"
            for g, p, counts in pairs
        )
        pair_table = f"<table><tr><th>gold</th><th>predicted</th>{head}</tr>{pair_rows}</table>"
    else:
        pair_table = "<p>No confusions: every model decided every item correctly.</p>"
    image = base64.b64encode(png).decode("ascii")
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>'
        f"<style>{STYLE}</style></head><body>\n<h1>{e(title)}</h1>{note_list}\n"
        f"<table><tr><th>metric</th>{head}</tr>{body}</table>\n"
        f'<h2>Confusions</h2><img alt="confusion matrix of the most-confused labels" '
        f'src="data:image/png;base64,{image}">\n'
        f"<h2>Most-confused label pairs</h2>{pair_table}\n</body></html>\n"
    )
