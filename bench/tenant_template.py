"""From `copier copy` to a healthy server: how long a vendor waits for a new tenant.

Copies the kit's working tree into a temporary git repository tagged as the
release of its version, v<version> (the template source), then times `copier copy --trust --defaults` with the
marketing plugin — whose tasks run `uv sync`, `lendkit keys init` and
`lendkit db upgrade` — and `lendkit serve` until `/healthz` answers 200. The
package cache is warm (the kit's own environment filled it). Target: 60 s.

The helpers here are also what tests/test_tenant_template.py and
tests/test_partner_kit.py drive tenants with.
"""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

KIT = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 60.0
RUNS = 3

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "lendkit tests",
    "GIT_AUTHOR_EMAIL": "tests@lendkit.invalid",
    "GIT_COMMITTER_NAME": "lendkit tests",
    "GIT_COMMITTER_EMAIL": "tests@lendkit.invalid",
}


def release_tag() -> str:
    """The tag of the kit's version: a release is ``v<version>`` (scripts/release.py)."""
    import lendkit

    return f"v{lendkit.__version__}"


def uv_executable() -> str:
    """``$UV``, the kit's pinned uv (``.tools/bin/uv``) or ``uv`` on PATH."""
    for candidate in (os.environ.get("UV"), KIT / ".tools" / "bin" / "uv", shutil.which("uv")):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    raise RuntimeError("uv not found: run `make install` in the kit or set $UV")


def base_python() -> str:
    """The interpreter behind this virtualenv, for uv to build tenant environments on."""
    return str(getattr(sys, "_base_executable", None) or sys.executable)


def environment(**extra: str) -> dict[str, str]:
    """A clean environment for tenant commands: no caller venv, no LENDKIT_* settings."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("LENDKIT_") and key not in {"VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT"}
    }
    uv = uv_executable()
    env.update(GIT_IDENTITY)
    env.update(
        UV=uv,
        UV_PYTHON=base_python(),
        UV_PYTHON_DOWNLOADS="never",
        PATH=os.pathsep.join([str(Path(uv).parent), env.get("PATH", "")]),
    )
    env.update(extra)
    return env


def fresh_machine_environment(bin_dir: Path) -> dict[str, str]:
    """:func:`environment` as on a fresh machine: python3, make, git and the system's tools.

    ``bin_dir`` gets links to those three (python3 is the interpreter behind
    this virtualenv), ahead of /usr/bin and /bin; no ``$UV``, no uv anywhere
    on the PATH.
    """
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name, target in (
        ("python3", base_python()),
        ("make", shutil.which("make")),
        ("git", shutil.which("git")),
    ):
        if target is None:
            raise RuntimeError(f"{name} not found on this machine")
        (bin_dir / name).symlink_to(Path(target).resolve())
    env = environment(PATH=os.pathsep.join([str(bin_dir), "/usr/bin", "/bin"]))
    env.pop("UV")
    env.pop("UV_PYTHON")
    assert shutil.which("uv", path=env["PATH"]) is None
    return env


def git(folder: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *args], cwd=folder, env=environment(), capture_output=True, text=True, check=False
    )
    if result.returncode:
        raise RuntimeError(f"git {' '.join(args)} failed in {folder}: {result.stderr.strip()}")
    return result.stdout


def copy_kit(dest: Path, tag: str | None = None) -> Path:
    """The kit's working tree (tracked and new files, not ignored ones) as a git repo.

    Tagged ``tag`` (by default the release of the kit's version); ``""`` tags nothing.
    """
    tag = release_tag() if tag is None else tag
    listed = git(KIT, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    for relative in sorted(set(filter(None, listed.split("\0")))):
        source = KIT / relative
        if source.is_file():
            target = dest / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    git(dest, "init", "--quiet", "--initial-branch=main")
    commit_all(dest, "kit")
    if tag:
        git(dest, "tag", tag)
    return dest


def clone_kit(dest: Path) -> Path:
    """A real ``git clone`` of the kit's committed HEAD, on ``main``, without the kit's tags."""
    run(["git", "clone", "--quiet", "--no-tags", "--single-branch", str(KIT), str(dest)], KIT)
    git(dest, "checkout", "--quiet", "-B", "main")
    return dest


def commit_all(folder: Path, message: str) -> None:
    git(folder, "add", "--all")
    git(folder, "commit", "--quiet", "--allow-empty", "--no-gpg-sign", "-m", message)


def run(
    command: list[str], cwd: Path, env: Mapping[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run ``command``; raise with its output if it fails."""
    result = subprocess.run(
        command,
        cwd=cwd,
        env=dict(env or environment()),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode:
        raise RuntimeError(
            f"{' '.join(command)} exited {result.returncode}\n"
            f"--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-4000:]}"
        )
    return result


def copier(*args: str, cwd: Path, env: Mapping[str, str] | None = None) -> str:
    """Run the Copier command line (of this environment); return its stderr."""
    return run([sys.executable, "-m", "copier", *args], cwd, env).stderr


def copy_tenant(
    kit: Path, dest: Path, *, env: Mapping[str, str] | None = None, **answers: str
) -> Path:
    """``copier copy --trust --defaults KIT DEST`` with ``answers`` (tasks included)."""
    data = [item for key, value in answers.items() for item in ("--data", f"{key}={value}")]
    copier("copy", "--trust", "--defaults", *data, str(kit), str(dest), cwd=dest.parent, env=env)
    return dest


def make(tenant: Path, *targets: str, env: Mapping[str, str] | None = None) -> str:
    """The tenant's own ``make TARGETS``; its standard output."""
    return run(["make", "--no-print-directory", *targets], tenant, env).stdout


def lendkit(tenant: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """The tenant's own ``lendkit`` command, run in the tenant folder."""
    command = [str(tenant / ".venv" / "bin" / "lendkit"), *args]
    env = environment(LENDKIT_CONFIG=str(tenant / "lendkit.toml"))
    if check:
        return run(command, tenant, env)
    return subprocess.run(
        command, cwd=tenant, env=env, capture_output=True, text=True, check=False, timeout=120
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def status_of(url: str, timeout: float = 2.0) -> int:
    """The HTTP status of GET ``url`` (0 when nothing answers)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return 0


@contextmanager
def serving(tenant: Path, timeout: float = 60) -> Iterator[str]:
    """``lendkit serve`` for ``tenant`` on a free port until /healthz is 200; yield the URL."""
    port = free_port()
    server = subprocess.Popen(
        [str(tenant / ".venv" / "bin" / "lendkit"), "serve", "--port", str(port)],
        cwd=tenant,
        env=environment(LENDKIT_CONFIG=str(tenant / "lendkit.toml")),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while status_of(f"{url}/healthz") != 200:
            if server.poll() is not None:
                raise RuntimeError(
                    f"lendkit serve exited {server.returncode}: {server.stderr.read() if server.stderr else ''}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"lendkit serve not healthy after {timeout} s")
            time.sleep(0.05)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def time_one(kit: Path, workdir: Path, index: int) -> dict[str, float]:
    """One tenant from scratch: copier copy (with its tasks), then serve until healthy."""
    dest = workdir / f"tenant-{index}"
    started = time.perf_counter()
    copy_tenant(kit, dest, plugins="[marketing]")
    copied = time.perf_counter()
    with serving(dest):
        healthy = time.perf_counter()
    return {
        "copy_and_tasks_s": copied - started,
        "serve_to_healthy_s": healthy - copied,
        "total_s": healthy - started,
    }


def main() -> None:
    from bench.report import emit

    with tempfile.TemporaryDirectory(prefix="lendkit-bench-") as tmp:
        workdir = Path(tmp)
        kit = copy_kit(workdir / "kit")
        runs = []
        for index in range(RUNS):
            figures = time_one(kit, workdir, index)
            print(
                f"  run {index + 1}: copier copy + tasks {figures['copy_and_tasks_s']:.1f} s, "
                f"serve to healthy {figures['serve_to_healthy_s']:.1f} s, "
                f"total {figures['total_s']:.1f} s",
                flush=True,
            )
            runs.append(figures)
    total = statistics.median(r["total_s"] for r in runs)
    emit(
        "tenant_template",
        {
            "runs": RUNS,
            "plugins": "marketing",
            "copy_and_tasks_s_median": round(
                statistics.median(r["copy_and_tasks_s"] for r in runs), 2
            ),
            "serve_to_healthy_s_median": round(
                statistics.median(r["serve_to_healthy_s"] for r in runs), 2
            ),
            "copy_to_healthy_s_median": round(total, 2),
            "copy_to_healthy_s_max": round(max(r["total_s"] for r in runs), 2),
            "target_s": TARGET_SECONDS,
            "within_target": total <= TARGET_SECONDS,
        },
    )


if __name__ == "__main__":
    main()
