"""Copier's helper for the tenant template (runs with Copier's Python; stdlib only).

``setup``
    After ``copier copy`` and ``copier update``: copy the logo, then run the
    tenant's own ``make install keys migrate`` (the Makefile bootstraps the
    kit's pinned uv into ``.tools/`` from python3, or uses ``$UV``): install
    the tenant, create the master key (first copy, key file only) and create
    or migrate the database. During ``copier update`` Copier also
    renders the old and the new template into scratch folders and runs the
    tasks there; those are not git work trees (a tenant being updated always
    is), so they are skipped.
``rename-setting OLD NEW``
    For ``_migrations``: rename a setting in ``lendkit.toml`` (``section.key``
    or a top-level ``key``) keeping comments, layout and the tenant's value.

This file lives in the template folder but is excluded from the rendered
tenant (``_exclude`` in copier.yml).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

SETTINGS = "lendkit.toml"


def _say(message: str) -> None:
    print(f"lendkit: {message}", file=sys.stderr, flush=True)


def _in_git_work_tree(folder: Path) -> bool:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "--is-inside-work-tree"],  # noqa: S607 - git from PATH
            cwd=folder,
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return False
    return result.returncode == 0 and result.stdout.strip() == "true"


# The caller's virtualenv and make flags are not the tenant's: its Makefile
# installs into its own .venv.
_NOT_INHERITED = ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "MAKEFLAGS", "MFLAGS", "MAKELEVEL")


def _environment(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _NOT_INHERITED}
    env["LENDKIT_CONFIG"] = str(root / SETTINGS)
    return env


def _run(command: list[str], root: Path) -> None:
    _say("$ " + " ".join(command))
    result = subprocess.run(command, cwd=root, env=_environment(root), check=False)  # noqa: S603
    if result.returncode:
        _say(f"failed (exit {result.returncode}): {' '.join(command)}")
        sys.exit(result.returncode)


def setup(args: argparse.Namespace) -> int:
    root = Path.cwd()
    if args.operation == "update" and not _in_git_work_tree(root):
        return 0  # one of Copier's scratch renders, not the tenant
    if args.logo and args.logo_to:
        source, target = Path(args.logo), root / args.logo_to
        if source.is_file() and not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        elif not target.exists():
            _say(f"logo {source} not found: copy it to {args.logo_to} yourself")
    if not args.install:
        _say("not installed (install_now = false): run `make install keys migrate`")
        return 0
    make = shutil.which("make")
    if not make:
        _say("make not found: install make, then run `make install keys migrate` in the tenant")
        return 0
    targets = ["install"]
    if args.key == "file":
        if not (root / "keys" / "master.key").exists():
            targets.append("keys")
    elif args.key_env not in os.environ:
        _run([make, "--no-print-directory", *targets], root)
        _say(
            f"the master key comes from ${args.key_env}, which is not set here: set it "
            "(64 hex digits) and run `make migrate`"
        )
        return 0
    _run([make, "--no-print-directory", *targets, "migrate"], root)
    return 0


# -- rename-setting ------------------------------------------------------------

_HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")


def _split(dotted: str) -> tuple[str, str]:
    section, _, key = dotted.rpartition(".")
    if not re.fullmatch(r"[A-Za-z0-9_]+", key) or (
        section and not re.fullmatch(r"[A-Za-z0-9_.]+", section)
    ):
        raise SystemExit(f"rename-setting: {dotted!r} is not a setting name like backup.keep")
    return section, key


def _key_line(key: str) -> re.Pattern[str]:
    return re.compile(rf"^(\s*)({re.escape(key)}|\"{re.escape(key)}\")(\s*=)")


def _find(lines: list[str], section: str, key: str) -> int | None:
    """Index of the line assigning ``key`` in ``[section]`` (or dotted at the top)."""
    current = ""
    plain, dotted = _key_line(key), _key_line(f"{section}.{key}" if section else key)
    for index, line in enumerate(lines):
        header = _HEADER.match(line)
        if header:
            current = header.group(1).replace(" ", "")
            continue
        if current == section and plain.match(line):
            return index
        if current == "" and section and dotted.match(line):
            return index
    return None


def _section_end(lines: list[str], section: str) -> int | None:
    """Index after the last line of ``[section]``, or None if it has no header."""
    start = None
    for index, line in enumerate(lines):
        header = _HEADER.match(line)
        if header and start is not None:
            end = index
            while end > start + 1 and not lines[end - 1].strip():
                end -= 1
            return end
        if header and header.group(1).replace(" ", "") == section:
            start = index
    return len(lines) if start is not None else None


def rename_setting(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.exists():
        _say(f"rename-setting: no {path}; nothing to do")
        return 0
    old_section, old_key = _split(args.old)
    new_section, new_key = _split(args.new)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    found = _find(lines, old_section, old_key)
    if found is None:
        _say(f"rename-setting: {args.old} is not set in {path}; nothing to do")
        return 0
    if _find(lines, new_section, new_key) is not None:
        _say(f"rename-setting: both {args.old} and {args.new} are set in {path}; keeping both")
        return 0
    line = lines[found]
    value = line.split("=", 1)[1]
    if old_section == new_section:
        match = _key_line(old_key).match(line) or _key_line(args.old).match(line)
        assert match is not None
        name = new_key if _key_line(old_key).match(line) else args.new
        lines[found] = f"{match.group(1)}{name}{match.group(3)}{value}"
    else:
        del lines[found]
        end = _section_end(lines, new_section)
        assignment = f"{new_key} ={value}" if value.startswith(" ") else f"{new_key} = {value}"
        if end is None:
            if lines and not lines[-1].endswith("\n"):
                lines[-1] += "\n"
            lines += ["\n", f"[{new_section}]\n", assignment]
        else:
            lines.insert(end, assignment)
    path.write_text("".join(lines), encoding="utf-8")
    _say(f"renamed {args.old} to {args.new} in {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tenant_tasks")
    commands = parser.add_subparsers(dest="command", required=True)
    task = commands.add_parser("setup", help="install, key, migrate")
    task.add_argument("--operation", choices=["copy", "update"], required=True)
    task.add_argument("--key", choices=["file", "env"], default="file")
    task.add_argument("--key-env", default="LENDKIT_MASTER_KEY")
    task.add_argument("--logo", default="")
    task.add_argument("--logo-to", default="")
    task.add_argument("--install", action=argparse.BooleanOptionalAction, default=True)
    task.set_defaults(run=setup)
    rename = commands.add_parser("rename-setting", help="rename a key in lendkit.toml")
    rename.add_argument("old")
    rename.add_argument("new")
    rename.add_argument("--file", default=SETTINGS)
    rename.set_defaults(run=rename_setting)
    args = parser.parse_args(argv)
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
