"""The results: a text table, a JSON file and a PNG chart, plus the machine they came from."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .run import Row, RunReport

COLUMNS = (
    "scenario",
    "req/s",
    "p50 ms",
    "p99 ms",
    "errors",
    "baseline req/s",
    "baseline p99 ms",
    "ratio",
    "pair ratios",
    "steal %",
    "backlog s",
    "checks",
)


def machine() -> dict[str, Any]:
    """nproc, CPU model, kernel, Python and wrk versions."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=5)
        wrk_version = (wrk.stdout or wrk.stderr).splitlines()[0].split(" Copyright")[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        wrk_version = "unknown"
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "wrk": wrk_version,
    }


def table_rows(report: RunReport) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for row in report.rows:
        failed = [c.name for c in row.checks if not c.ok]
        rows.append(
            (
                row.title,
                f"{row.service.requests_per_second:.0f}",
                f"{row.service.latency_us['p50'] / 1000:.1f}",
                f"{row.service.latency_us['p99'] / 1000:.1f}",
                str(row.errors),
                f"{row.baseline.requests_per_second:.0f}",
                f"{row.baseline.latency_us['p99'] / 1000:.1f}",
                f"{row.ratio:.2f}",
                ",".join(f"{p.ratio:.2f}" for p in row.pairs),
                steal_cell(row),
                f"{row.outbox_drain_s:.1f}",
                "ok" if not failed else "FAIL: " + ", ".join(failed),
            )
        )
    return rows


def steal_cell(row: Row) -> str:
    """`service/baseline`: the machine's CPU steal during each load of the row's median pair
    (`-` where unmeasured)."""

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value:.0f}"

    return f"{pct(row.service.steal_pct)}/{pct(row.baseline.steal_pct)}"


def _aligned(cells: Sequence[str], widths: Sequence[int]) -> str:
    return "  ".join(
        c.ljust(w) if i == 0 else c.rjust(w)
        for i, (c, w) in enumerate(zip(cells, widths, strict=True))
    )


def format_table(reports: Sequence[RunReport]) -> str:
    """A plain-text table per run, columns aligned."""
    blocks = []
    for report in reports:
        rows = table_rows(report)
        widths = [
            max(len(COLUMNS[i]), *(len(r[i]) for r in rows)) if rows else len(COLUMNS[i])
            for i in range(len(COLUMNS))
        ]

        def line(cells: Sequence[str], widths: Sequence[int] = widths) -> str:
            return _aligned(cells, widths)

        title = report.config.label + (f"  (run failed: {report.error})" if report.error else "")
        blocks.append(
            "\n".join(
                [title, line(COLUMNS), line(["-" * w for w in widths]), *(line(r) for r in rows)]
            )
        )
    return "\n\n".join(blocks)


def scaling(reports: Sequence[RunReport]) -> list[tuple[str, str, float, float]]:
    """(store, scenario, service, bare Sanic): how many times the first run's throughput each
    run with more workers of the same store reached, scenario by scenario, the service's and
    its baseline's. The two runs ran minutes apart: bare Sanic's own figure says how far the
    machine let any server scale meanwhile."""
    found = []
    firsts: dict[str, RunReport] = {}
    for report in reports:
        first = firsts.setdefault(report.config.store, report)
        if report is first or report.config.workers <= first.config.workers:
            continue
        before = {row.key: row for row in first.rows}
        for row in report.rows:
            one = before.get(row.key)
            if one is None or not one.service.requests_per_second:
                continue
            found.append(
                (
                    f"{report.config.store}, {report.config.workers} against "
                    f"{first.config.workers}",
                    row.title,
                    row.service.requests_per_second / one.service.requests_per_second,
                    row.baseline.requests_per_second / one.baseline.requests_per_second
                    if one.baseline.requests_per_second
                    else 0.0,
                )
            )
    return found


def format_scaling(reports: Sequence[RunReport]) -> str:
    """The `scaling` figures as lines, or nothing when no run had more workers."""
    return "\n".join(
        f"{runs}: {title}  {service:.2f}x (bare Sanic {bare:.2f}x)"
        for runs, title, service, bare in scaling(reports)
    )


def markdown_table(reports: Sequence[RunReport]) -> str:
    """The same figures as a Markdown table (for bench/README.md)."""
    head = ("run", *COLUMNS)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for report in reports:
        for cells in table_rows(report):
            lines.append("| " + " | ".join((report.config.label, *cells)) + " |")
    return "\n".join(lines)


def write_json(
    path: Path, reports: Sequence[RunReport], *, options: dict[str, Any], skipped: Sequence[str]
) -> None:
    data = {
        "machine": machine(),
        "options": options,
        "skipped": list(skipped),
        "ok": all(r.ok for r in reports),
        "runs": [r.to_json() for r in reports],
        "scaling": [
            {"runs": runs, "scenario": title, "service": round(service, 3), "bare": round(bare, 3)}
            for runs, title, service, bare in scaling(reports)
        ],
    }
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")


def write_chart(path: Path, reports: Sequence[RunReport]) -> None:
    """Requests/s per scenario, each run next to its baseline, and p99 latency."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    reports = [r for r in reports if r.rows]
    if not reports:
        return
    keys = [row.key for row in reports[0].rows]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 8), sharex=True)
    width = 0.8 / len(reports)
    for i, report in enumerate(reports):
        by_key = {row.key: row for row in report.rows}
        xs = [k + (i - (len(reports) - 1) / 2) * width for k in range(len(keys))]
        rps = [by_key[k].service.requests_per_second if k in by_key else 0 for k in keys]
        base = [by_key[k].baseline.requests_per_second if k in by_key else 0 for k in keys]
        p99 = [by_key[k].service.latency_us["p99"] / 1000 if k in by_key else 0 for k in keys]
        bars = top.bar(xs, rps, width, label=report.config.label)
        top.bar(
            xs,
            base,
            width,
            fill=False,
            edgecolor=bars.patches[0].get_facecolor(),
            linestyle="--",
            label=f"baseline, {report.config.label}",
        )
        for x, value, b in zip(xs, rps, base, strict=True):
            if b:
                top.annotate(f"{value / b:.2f}x", (x, value), ha="center", va="bottom", fontsize=7)
        bottom.bar(xs, p99, width, label=report.config.label, color=bars.patches[0].get_facecolor())
    top.set_yscale("log")
    top.set_ylabel("requests/s (log; dashed: bare Sanic baseline)")
    top.legend(fontsize=7, ncol=2)
    bottom.set_ylabel("p99 latency (ms)")
    bottom.set_xticks(range(len(keys)))
    bottom.set_xticklabels(keys, rotation=20, ha="right")
    bottom.legend(fontsize=7)
    fig.suptitle("rakubun-dashboard under wrk, against a bare Sanic app of the same body size")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
