"""Shared output of the benchmarks: a readable table, then one JSON line.

Also the timing helpers. On a machine shared with other work, wall time
counts whatever the scheduler gave to others; :func:`sample_cpu` times
small batches by the thread's own CPU time instead (the wall time beside),
and functions to be compared are sampled in turn, so a burst of load falls
on both alike. Medians of many small batches, not one long run.
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def median_seconds(function: Callable[[], object], repeat: int, inner: int = 1) -> float:
    """Median wall time of ``inner`` calls, over ``repeat`` samples, per call."""
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(inner):
            function()
        samples.append((time.perf_counter() - started) / inner)
    return statistics.median(samples)


@dataclass(frozen=True, slots=True)
class Samples:
    """Per-call times of one function, one entry per batch."""

    cpu: list[float]
    wall: list[float]

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)

    @property
    def wall_median(self) -> float:
        return statistics.median(self.wall)


def sample_cpu(
    functions: dict[str, Callable[[], object]], rounds: int, inner: dict[str, int] | int = 1
) -> dict[str, Samples]:
    """Each function's per-call time over ``rounds`` batches, the functions in turn.

    ``inner`` is the calls per batch (per function, or one for all): enough
    for a batch to be well above the clock's cost, few enough to fit in a
    time slice.
    """
    counts = inner if isinstance(inner, dict) else dict.fromkeys(functions, inner)
    cpu: dict[str, list[float]] = {name: [] for name in functions}
    wall: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(rounds):
        for name, function in functions.items():
            count = counts[name]
            wall_start, cpu_start = time.perf_counter(), time.thread_time()
            for _ in range(count):
                function()
            cpu[name].append((time.thread_time() - cpu_start) / count)
            wall[name].append((time.perf_counter() - wall_start) / count)
    return {name: Samples(cpu[name], wall[name]) for name in functions}


def median_ratio(numerator: Samples, denominator: Samples) -> float:
    """The median over batches of ``numerator`` / ``denominator`` CPU time, batch by batch."""
    return statistics.median(n / d for n, d in zip(numerator.cpu, denominator.cpu, strict=True))


def target(label: str, measured: float, op: str, goal: float, unit: str = "") -> bool:
    """Print ``label: measured (target op goal)``, and whether it is met."""
    met = measured >= goal if op == "≥" else measured <= goal
    print(
        f"  {label}: {measured:g}{unit} (target {op} {goal:g}{unit}) {'met' if met else 'MISSED'}"
    )
    return met


def emit(name: str, figures: dict[str, Any]) -> None:
    """Print the figures, save them, and end with the JSON line."""
    figures = {
        "benchmark": name,
        "machine": platform.machine(),
        "python": platform.python_version(),
        **figures,
    }
    for key, value in figures.items():
        print(f"  {key:<40} {value}")
    RESULTS.mkdir(exist_ok=True)
    line = json.dumps(figures, ensure_ascii=False)
    (RESULTS / f"{name}.json").write_text(line + "\n", encoding="utf-8")
    print(line, flush=True)
