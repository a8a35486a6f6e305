"""The Markdown table every benchmark prints (pasted into docs/BENCHMARKS.md)."""

from __future__ import annotations


def print_table(rows: list[tuple[str, str, str]],
                header: tuple[str, str, str] = ("scenario", "measured", "target")) -> None:
    """Print rows of (what, figure, target) as a Markdown table."""
    print(f"| {' | '.join(header)} |")
    print("|---|---|---|")
    for row in rows:
        print(f"| {' | '.join(row)} |")
