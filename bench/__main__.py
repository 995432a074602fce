"""Run the benchmarks named on the command line, or all of them."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = (
    "crypto_fields",
    "key_rotation",
    "tenant_template",
    "schedules",
    "eod",
    "reconcile",
    "repayments",
    "cli_start",
)


def main(names: list[str]) -> None:
    for name in names or BENCHMARKS:
        if name not in BENCHMARKS:
            sys.exit(f"unknown benchmark {name!r}; choose from {', '.join(BENCHMARKS)}")
        print(f"== {name}", flush=True)
        importlib.import_module(f"bench.{name}").main()


if __name__ == "__main__":
    main(sys.argv[1:])
