"""Acceptance: no module of ``kernel/lendkit`` imports a plugin or names one, nor the
string "sandbox" — stand-ins are plugins the kernel knows nothing about.

Every kernel ``.py`` is parsed (historical migrations aside: they keep the
column names they created). It fails on an import of an installed plugin's
package, on a string constant equal to an installed plugin's name (a plugin
name can be an English word, so only whole constants count), and on any
string constant containing "sandbox" in any case. Docstrings are documentation,
not behaviour: they are left out, and comments never reach the syntax tree.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import lendkit
from lendkit.plugins import installed_plugins

KERNEL = Path(lendkit.__file__).parent
MIGRATIONS = KERNEL / "migrations" / "versions"
# Constants that equal a plugin's name but mean something else, each looked at.
NOT_A_PLUGIN = frozenset(
    {
        ("crypto/crypto_cli.py", "demo"),  # the `lendkit crypto demo` command
        ("settings.py", "demo"),  # the default tenant slug
    }
)


def kernel_modules() -> Iterator[Path]:
    for path in sorted(KERNEL.rglob("*.py")):
        if MIGRATIONS not in path.parents:
            yield path


def docstrings(tree: ast.AST) -> set[int]:
    """Ids of the constants that are a module's, class's or function's docstring."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                found.add(id(body[0].value))
    return found


def problems(path: Path, names: set[str], packages: set[str], root: Path = KERNEL) -> Iterator[str]:
    where = path.relative_to(root).as_posix()
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    skip = docstrings(tree)
    for node in ast.walk(tree):
        imported: list[str] = []
        if isinstance(node, ast.Import):
            imported = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            imported = [node.module]
        for module in imported:
            if module.split(".")[0] in packages:
                yield f"{where}:{node.lineno}: imports plugin package {module}"
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            if node.value in names and (where, node.value) not in NOT_A_PLUGIN:
                yield f"{where}:{node.lineno}: names plugin {node.value!r}"
            # A Content-Security-Policy's `sandbox` is the browser's directive, not a plugin.
            if "sandbox" in node.value.lower() and not node.value.startswith("default-src"):
                yield f"{where}:{node.lineno}: string {node.value[:60]!r} says sandbox"


def test_no_kernel_module_imports_or_names_a_plugin_or_says_sandbox():
    plugins = installed_plugins()
    names = set(plugins)
    packages = {plugin.package for plugin in plugins.values()}
    assert {"marketing", "channel-sandbox", "demo"} <= names  # the check sees real plugins
    assert "lendkit" not in packages

    found = [line for path in kernel_modules() for line in problems(path, names, packages)]

    assert found == []


def test_the_check_catches_what_it_is_for(tmp_path):
    """The same check on a module that breaks each rule once: it reports each."""
    bad = tmp_path / "bad.py"
    source = (
        '"""A docstring may say sandbox."""\n'
        "import lendkit_marketing\n"
        "from lendkit_channel_sandbox.gateway import SandboxGateway\n"
        'ENABLED = ["channel-sandbox"]\n'
        'KEY = "Sandbox-label"\n'
        'ENGLISH = "marketing material"\n'  # a plugin's name as a word: fine
        "def f():\n"
        '    """Nor this sandbox."""\n'
        '    return f"{ENABLED}-sandbox"\n'
    )
    bad.write_text(source, encoding="utf-8")
    try:
        plugins = installed_plugins()
        found = list(problems(bad, set(plugins), {p.package for p in plugins.values()}, tmp_path))
    finally:
        bad.unlink()
    assert sorted(line.split(": ", 1)[1] for line in found) == sorted(
        [
            "imports plugin package lendkit_marketing",
            "imports plugin package lendkit_channel_sandbox.gateway",
            "names plugin 'channel-sandbox'",
            "string 'channel-sandbox' says sandbox",
            "string 'Sandbox-label' says sandbox",
            "string '-sandbox' says sandbox",
        ]
    )
