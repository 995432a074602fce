"""How long the ``lendkit`` command takes to start, beside a bare ``python -c pass``.

Times, as subprocesses of this machine, ``python -c pass``, ``lendkit
--version``, ``lendkit --help`` (in a tenant folder whose lendkit.toml
enables two plugins with commands, and in a folder with no tenant) and
``lendkit quote`` (no tenant needed). The runs are interleaved, so a burst
of load from elsewhere falls on every command alike; each figure is the
median of ``LENDKIT_BENCH_CLI_RUNS`` runs (default 21), wall time against
the target and CPU time beside it. Targets: 0.3 s for ``--version`` and
``--help``, 0.6 s for ``quote``.

Bytecode is cached, as in an installed kit (pip and uv write ``.pyc`` files
when they install): ``PYTHONDONTWRITEBYTECODE`` is dropped for the runs, and
warm-up runs write the caches. Without them every run compiles each module
it imports again, which measures the compiler, not the start.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.report import emit

RUNS = int(os.environ.get("LENDKIT_BENCH_CLI_RUNS", "21"))
WARM_UP = 2
LENDKIT = str(Path(sys.executable).with_name("lendkit"))
# Two installed plugins that bring commands of their own (sandbox-gateway,
# esign-sandbox-server), so `--help` lists plugin commands too.
TENANT_PLUGINS = ("channel-sandbox", "esign-sandbox")
QUOTE = ("quote", "--principal", "10000", "--term", "12", "--method", "equal-installment")
QUOTE_ARGS = (*QUOTE, "--annual-rate", "0.1")
TARGETS = {"version": 0.3, "help_tenant": 0.3, "help_outside": 0.3, "quote": 0.6}
LABELS = {
    "python_pass": "python -c pass",
    "version": "lendkit --version (tenant)",
    "help_tenant": "lendkit --help (tenant)",
    "help_outside": "lendkit --help (no tenant)",
    "quote": "lendkit quote",
}


def environment() -> dict[str, str]:
    """This environment without tenant settings and with bytecode caching allowed."""
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("LENDKIT_") and key != "PYTHONDONTWRITEBYTECODE"
    }


def run_once(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one run; the command must succeed.

    The CPU time is what the command itself costs, less swayed than the wall
    time by other processes on a shared machine.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode:
        raise RuntimeError(f"{' '.join(command)} failed: {result.stderr.decode()[-500:]}")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return elapsed, cpu


def main() -> None:
    env = environment()
    with tempfile.TemporaryDirectory(prefix="lendkit-cli-bench-") as scratch:
        tenant, outside = Path(scratch, "tenant"), Path(scratch, "outside")
        tenant.mkdir()
        outside.mkdir()
        enabled = ", ".join(f'"{name}"' for name in TENANT_PLUGINS)
        (tenant / "lendkit.toml").write_text(
            f'[tenant]\nname = "Bench"\n\n[plugins]\nenabled = [{enabled}]\n', encoding="utf-8"
        )
        cases: dict[str, tuple[list[str], Path]] = {
            "python_pass": ([sys.executable, "-c", "pass"], outside),
            "version": ([LENDKIT, "--version"], tenant),
            "help_tenant": ([LENDKIT, "--help"], tenant),
            "help_outside": ([LENDKIT, "--help"], outside),
            "quote": ([LENDKIT, *QUOTE_ARGS], outside),
        }
        walls: dict[str, list[float]] = {name: [] for name in cases}
        cpus: dict[str, list[float]] = {name: [] for name in cases}
        for round_no in range(WARM_UP + RUNS):
            for name, (command, cwd) in cases.items():
                elapsed, cpu = run_once(command, cwd, env)
                if round_no >= WARM_UP:
                    walls[name].append(elapsed)
                    cpus[name].append(cpu)
    medians = {name: statistics.median(times) for name, times in walls.items()}
    cpu_medians = {name: statistics.median(times) for name, times in cpus.items()}
    baseline = medians["python_pass"]
    print(
        f"  {LABELS['python_pass']:<28} {baseline:6.3f} s  (cpu {cpu_medians['python_pass']:.3f} s)"
    )
    for name, target in TARGETS.items():
        verdict = "ok" if medians[name] <= target else "OVER"
        print(
            f"  {LABELS[name]:<28} {medians[name]:6.3f} s  target {target} s {verdict:<4}  "
            f"{medians[name] / baseline:5.1f} x python -c pass  (cpu {cpu_medians[name]:.3f} s)"
        )
    figures: dict[str, object] = {
        "runs_each": RUNS,
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "python_pass_s": round(baseline, 3),
        "python_pass_cpu_s": round(cpu_medians["python_pass"], 3),
    }
    for name, target in TARGETS.items():
        figures[f"{name}_s"] = round(medians[name], 3)
        figures[f"{name}_target_s"] = target
        figures[f"{name}_ratio_to_python_pass"] = round(medians[name] / baseline, 1)
        figures[f"{name}_cpu_s"] = round(cpu_medians[name], 3)
    figures["meets_targets"] = all(medians[name] <= target for name, target in TARGETS.items())
    emit("cli_start", figures)


if __name__ == "__main__":
    main()
