"""Turn measured runs into the results table, the ratios and the target checks (text and Markdown)."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Row:
    """One case of the table: a loader, a database, its repeated runs."""

    group: str  # "analytics", "compliance", "memory", "backfill"
    loader: str  # "limit", "provider", "dlt", "HttpOperator", ...
    database: str  # "-", "sqlite", "postgres"
    runs: list[dict[str, Any]] = field(default_factory=list)
    #: Why the case has no runs ("skipped (dlt not installed)", "FAILED: ...").
    status: str = ""
    #: Rows the case moves: the source rows (API rows or events of the day), the same for every loader.
    rows: int | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return self.group, self.loader, self.database

    @property
    def ok(self) -> bool:
        return bool(self.runs) and not self.status

    def seconds(self) -> list[float]:
        return [float(r["seconds"]) for r in self.runs]

    @property
    def median(self) -> float | None:
        return statistics.median(self.seconds()) if self.runs else None

    @property
    def rate(self) -> float | None:
        """Rows per second at the median time."""
        median = self.median
        return self.rows / median if self.rows and median else None

    def median_of(self, key: str) -> float | None:
        values = [float(r[key]) for r in self.runs if r.get(key) is not None]
        return statistics.median(values) if values else None

    def max_of(self, key: str) -> float | None:
        values = [float(r[key]) for r in self.runs if r.get(key) is not None]
        return max(values) if values else None


@dataclass
class Target:
    name: str
    figure: str
    met: bool | None  # None: not measured


def _fmt(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


HEADERS = (
    "case",
    "loader",
    "database",
    "rows",
    "median s",
    "min s",
    "max s",
    "rows/s",
    "requests",
    "429s",
    "peak RSS MiB",
    "loaded rows",
)


def table_rows(rows: Iterable[Row]) -> list[tuple[str, ...]]:
    out = []
    for row in rows:
        if not row.ok:
            out.append(
                (
                    row.group,
                    row.loader,
                    row.database,
                    _fmt(row.rows, 0),
                    row.status or "no run",
                    *("-",) * (len(HEADERS) - 5),
                )
            )
            continue
        seconds = row.seconds()
        out.append(
            (
                row.group,
                row.loader,
                row.database,
                _fmt(row.rows, 0),
                _fmt(row.median, 2),
                _fmt(min(seconds), 2),
                _fmt(max(seconds), 2),
                _fmt(row.rate, 0),
                _fmt(row.median_of("requests"), 0),
                _fmt(row.median_of("responses_429"), 0),
                _fmt(row.max_of("peak_rss_mb"), 0),
                _fmt(row.median_of("loaded_rows"), 0),
            )
        )
    return out


def text_table(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(c)) for c in column) for column in zip(header, *body, strict=True)]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    rule = "  ".join("-" * w for w in widths)
    lines = [line, rule]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in body]
    return "\n".join(lines)


def markdown_table(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in body]
    return "\n".join(lines)


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def throughput_ratios(rows: Sequence[Row]) -> list[tuple[str, str, str]]:
    """``(comparison, database, ratio)`` of the provider's rows/s to every other loader's, same run."""
    by_key = {r.key: r for r in rows}
    out = []
    for group in ("analytics", "compliance"):
        limit = by_key.get((group, "limit", "-"))
        for database in ("sqlite", "postgres"):
            provider = by_key.get((group, "provider", database))
            if provider is None or not provider.ok:
                continue
            if limit is not None and limit.ok:
                out.append((f"{group}: provider / limit", database, _fmt(ratio(provider.rate, limit.rate), 2)))
            for other in ("dlt", "HttpOperator"):
                row = by_key.get((group, other, database))
                if row is not None and row.ok:
                    out.append((f"{group}: provider / {other}", database, _fmt(ratio(provider.rate, row.rate), 1)))
    return out


def targets(rows: Sequence[Row], memory: dict[str, Any] | None, backfill: dict[str, Any] | None) -> list[Target]:
    """Each target (issues #6 and #18) with its figure from this run."""
    by_key = {r.key: r for r in rows}
    out: list[Target] = []

    def rate(group: str, loader: str, database: str) -> float | None:
        row = by_key.get((group, loader, database))
        return row.rate if row is not None and row.ok else None

    # Issue 18's targets: analytics into both databases at 0.6x the limit loop, compliance at 0.4x; 10x dlt.
    for group, database, floor in (
        ("analytics", "postgres", 0.6),
        ("analytics", "sqlite", 0.6),
        ("compliance", "postgres", 0.4),
    ):
        value = ratio(rate(group, "provider", database), rate(group, "limit", "-"))
        out.append(
            Target(
                f"{group}: provider >= {floor}x limit ({database})",
                _fmt(value, 2) + "x",
                None if value is None else value >= floor,
            )
        )
    for group, database in (("analytics", "sqlite"), ("analytics", "postgres"), ("compliance", "postgres")):
        value = ratio(rate(group, "provider", database), rate(group, "dlt", database))
        out.append(
            Target(
                f"{group}: provider >= 10x dlt ({database})",
                _fmt(value, 1) + "x",
                None if value is None else value >= 10,
            )
        )
    for database in ("sqlite", "postgres"):
        value = ratio(rate("analytics", "provider", database), rate("analytics", "HttpOperator", database))
        out.append(
            Target(
                f"analytics: provider >= 3x HttpOperator ({database})",
                _fmt(value, 1) + "x",
                None if value is None else value >= 3,
            )
        )
    for group in ("analytics", "compliance"):
        value = (memory or {}).get(group, {}).get("ratio")
        out.append(
            Target(
                f"memory: {group} peak RSS at 10x <= 1.3x at 1x",
                _fmt(value, 2) + "x",
                None if value is None else value <= 1.3,
            )
        )
    if backfill:
        out.append(
            Target(
                "backfill (threads of one process, not a deployment): zero failed tasks",
                str(backfill.get("tasks_failed")),
                backfill.get("tasks_failed") == 0,
            )
        )
        value = backfill.get("requests_ratio")
        out.append(
            Target(
                "backfill (threads): requests <= 1.1x the minimum",
                _fmt(value, 2) + "x",
                None if value is None else value <= 1.1,
            )
        )
        value = backfill.get("wall_ratio")
        out.append(
            Target(
                "backfill (threads): wall time <= 1.2x the floor",
                _fmt(value, 2) + "x",
                None if value is None else value <= 1.2,
            )
        )
    return out


def verdict(target: Target) -> str:
    return {True: "met", False: "MISSED", None: "not measured"}[target.met]
