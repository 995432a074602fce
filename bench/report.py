"""Shared output of the benchmarks: a readable table, then one JSON line."""

from __future__ import annotations

import json
import platform
import statistics
import time
from collections.abc import Callable
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
