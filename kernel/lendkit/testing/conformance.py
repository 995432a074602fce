"""The plugin conformance check: what a plugin, and its tests, may do with the kernel.

:func:`check_plugin` is what every plugin's tests run; :data:`PUBLIC_API` is
the list of what a plugin may import.
"""

from __future__ import annotations

import ast
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from lendkit.crypto.keys import write_master_key
from lendkit.runtime import Runtime, open_runtime

__all__ = ["PUBLIC_API", "check_plugin", "kernel_tables", "table_problems"]

# -- The plugin conformance check ------------------------------------------

# What a plugin may import from lendkit: module -> the names it may take from
# it (None: any). Everything else is kernel-internal and may change without
# notice. ``lendkit.settings`` and ``lendkit.masking`` are here because the
# hook specifications name ``Settings`` and ask plugins to mask what they log.
PUBLIC_API: Mapping[str, frozenset[str] | None] = {
    "lendkit": frozenset({"hookimpl", "PROJECT_NAME", "__version__"}),
    "lendkit.types": None,
    "lendkit.db": None,
    "lendkit.hookspecs": None,
    "lendkit.testing": None,
    "lendkit.testing.fixtures": None,
    "lendkit.testing.factories": None,
    "lendkit.crypto.orm": None,
    # China's time zone and business date, defined once.
    "lendkit.clock": None,
    # SM3 and HMAC-SM3, the kit's one implementation (OpenSSL).
    "lendkit.crypto.sm3": None,
    "lendkit.audit": frozenset({"record"}),
    "lendkit.errors": None,
    "lendkit.settings": frozenset({"Settings"}),
    # A plugin's own [plugins.options.<name>] section, as its OPTIONS model.
    "lendkit.plugin_options": frozenset({"plugin_options"}),
    "lendkit.masking": None,
    # The kernel's message texts, for a plugin that shows messages instead of sending them.
    "lendkit.auth.notify": frozenset({"render", "TEMPLATES", "STAND_IN_PREFIX"}),
    # Reading and posting through the kernel without touching its tables.
    "lendkit.views": None,
    "lendkit.ledger": None,
    "lendkit.callers": None,
    # The vendor kit: signing, replay protection, callbacks, fake servers on loopback.
    "lendkit.vendorkit": None,
    **{
        f"lendkit.vendorkit.{module}": None
        for module in (
            "callbacks",
            "errors",
            "fake",
            "headers",
            "loopback",
            "nonces",
            "recorder",
            "scheduler",
            "signing",
        )
    },
    # List endpoints in the kit's one shape: {items, total, limit, offset, next}.
    "lendkit.web.paging": frozenset({"Window", "page_of", "page_of_list"}),
}

# Column names that say "personal data": such a column must be Encrypted.
_PII_WORDS = frozenset({"name", "phone", "mobile", "card", "address", "email"})
_PII_PARTS = ("id_number", "id_card", "idcard", "id_no", "phone", "mobile", "email", "address")


def check_plugin(name: str, *, database_url: str | None = None) -> list[str]:
    """Check the installed plugin ``name`` against the rules of the host.

    Returns one line per problem (an empty list when it conforms):

    * its hook implementations match the specifications (pluggy validates
      names and arguments; ``check_pending`` finds misspelled hooks), and no
      module-level function named like a hook lacks ``@lendkit.hookimpl``;
    * its migrations upgrade, downgrade to base (removing every table they
      made) and upgrade again, and every table of its models has one;
    * neither its source nor its tests import anything from lendkit but
      :data:`PUBLIC_API` (test support the package ships for others,
      ``testing.py``, aside): :mod:`lendkit.testing` is the whole test kit;
    * neither its source nor its tests (``tests/`` in the package, beside it,
      or beside ``src/``) read kernel tables directly: SQL text naming one,
      ``Base.metadata.tables``, ``Table("loan", ...)``, importing a kernel
      model; they read through :mod:`lendkit.views` instead;
    * every route it registers declares a permission the kernel knows;
    * no column named like personal data (name, phone, mobile, id_number,
      id_card, card, address, email) is stored in clear; a column that only
      looks personal is exempted with ``info={"pii": False}``.

    ``database_url`` (an empty database, e.g. the ``database_url`` fixture)
    is used for the migration round trip; by default a temporary SQLite file.

    One first-party exception: the kit's demo plugin (``lendkit-demo``)
    drives the lifecycle through kernel internals that have no public API
    yet and moves with the kernel in its repository, so this check is not
    run on it (its README says so). Every other plugin passes it.
    """
    from lendkit.errors import StartupError
    from lendkit.plugins import installed_plugins

    installed = installed_plugins()
    plugin = installed.get(name)
    if plugin is None:
        return [f"{name}: not installed (no entry point {name!r} in group 'lendkit')"]
    problems: list[str] = []
    package_dir = _package_dir(plugin.package)
    if package_dir is not None:
        problems += _import_problems(package_dir)
        # Its tests too: lendkit.testing is the whole kit they need.
        problems += _import_problems(package_dir, _test_files(package_dir))
        problems += table_problems(package_dir, _tests_dir(package_dir))
    try:
        enabled = _with_requirements(name, installed)
        with tempfile.TemporaryDirectory(prefix="lendkit-check-") as tmp:
            problems += _runtime_problems(name, plugin.package, enabled, Path(tmp), database_url)
    except StartupError as exc:
        problems.append(f"{name}: {exc.detail}")
    return problems


def _with_requirements(name: str, installed: Mapping[str, Any]) -> list[str]:
    """``name`` and every plugin it needs, transitively (needs come first)."""
    ordered: list[str] = []
    stack = [name]
    while stack:
        current = stack.pop()
        if current in ordered or current not in installed:
            continue
        ordered.insert(0, current)
        stack.extend(installed[current].requires())
    return ordered


def _package_dir(package: str) -> Path | None:
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None:
        return None
    locations = list(spec.submodule_search_locations or [])
    if locations:
        return Path(locations[0])
    return Path(spec.origin) if spec.origin else None


def _source_files(root: Path) -> Iterator[Path]:
    if root.is_file():
        yield root
        return
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).parts
        if "__pycache__" in parts or {"tests", "testing"} & set(parts[:-1]):
            continue
        if path.name in {"conftest.py", "testing.py"} or path.name.startswith("test_"):
            continue  # test support may drive the kernel like the kernel's own tests
        yield path


def _allowed(module: str, imported: str) -> bool:
    """Whether ``from module import imported`` takes only public API."""
    if f"{module}.{imported}" in PUBLIC_API:
        return True  # a public submodule, e.g. ``from lendkit import types``
    if module not in PUBLIC_API:
        return False
    names = PUBLIC_API[module]
    return names is None or imported in names


def _test_files(package_dir: Path) -> Iterator[Path]:
    """A plugin's tests: ``tests/`` beside ``src/``, and tests inside the package."""
    tests = _tests_dir(package_dir)
    if tests is not None:
        yield from sorted(p for p in tests.rglob("*.py") if "__pycache__" not in p.parts)
    if package_dir.is_dir():
        for path in sorted(package_dir.rglob("*.py")):
            parts = path.relative_to(package_dir).parts
            if "__pycache__" in parts:
                continue
            if "tests" in parts[:-1] or path.name == "conftest.py" or path.name.startswith("test_"):
                yield path


def _import_problems(root: Path, files: Iterable[Path] | None = None) -> list[str]:
    """Imports of kernel internals in the source under ``root`` (or in ``files``)."""
    problems: list[str] = []
    for path in _source_files(root) if files is None else files:
        where = path.relative_to(root.parent.parent if files is not None else root.parent)
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except (SyntaxError, UnicodeDecodeError) as exc:
            problems.append(f"{where}: cannot be parsed: {exc}")
            continue
        nested = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                problems += [
                    f"{where}:{node.lineno}: imports kernel internal {alias.name}"
                    for alias in node.names
                    if _is_kernel(alias.name) and alias.name not in PUBLIC_API
                ]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                if _is_kernel(node.module):
                    problems += [
                        f"{where}:{node.lineno}: imports kernel internal {node.module}.{alias.name}"
                        for alias in node.names
                        if not _allowed(node.module, alias.name)
                    ]
            elif isinstance(node, ast.Attribute) and id(node) not in nested:
                dotted = _dotted(node)
                if dotted and not _attribute_allowed(dotted):
                    problems.append(f"{where}:{node.lineno}: uses kernel internal {dotted}")
    return problems


def _is_kernel(module: str) -> bool:
    return module == "lendkit" or module.startswith("lendkit.")


def _dotted(node: ast.expr) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name) and node.id == "lendkit":
        return ".".join(["lendkit", *reversed(parts)])
    return None


def _attribute_allowed(dotted: str) -> bool:
    """``lendkit.hookimpl`` or anything reached through a public module."""
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        module = ".".join(parts[:end])
        if module in PUBLIC_API:
            rest = parts[end:]
            names = PUBLIC_API[module]
            if not rest:
                return True
            if names is None or rest[0] in names:
                return True
            return f"{module}.{rest[0]}" in PUBLIC_API
    return False


# -- Reading kernel tables directly -----------------------------------------

_SQL_SHAPES = (
    r"\bselect\b.*?\b(?:from|join)\s+{t}",
    r"\binsert\s+into\s+{t}",
    r"\bupdate\s+{t}\s+set\b",
    r"\bdelete\s+from\s+{t}",
    r"\btruncate\s+(?:table\s+)?{t}",
    r"\b(?:alter|drop)\s+table\s+(?:if\s+exists\s+)?{t}",
)
_METADATA_READS = frozenset({"tables", "sorted_tables", "reflect"})


def kernel_tables() -> frozenset[str]:
    """The names of the kernel's own tables (every kernel model module imported)."""
    import importlib

    import lendkit
    from lendkit.db import Base

    root = Path(lendkit.__file__).parent
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if "migrations" in parts or "__tablename__" not in path.read_text(encoding="utf-8"):
            continue
        importlib.import_module(".".join(("lendkit", *parts)))
    return frozenset(
        str(mapper.local_table.name)  # type: ignore[attr-defined]
        for mapper in Base.registry.mappers
        if mapper.class_.__module__.split(".")[0] == "lendkit"
    )


def _tests_dir(package_dir: Path) -> Path | None:
    """The distribution's tests folder beside ``src/`` (the src layout plugins use);
    tests inside the package are scanned with it."""
    if package_dir.is_file() or package_dir.parent.name != "src":
        return None
    tests = package_dir.parent.parent / "tests"
    return tests if tests.is_dir() else None


def _python_files(*roots: Path | None) -> Iterator[tuple[Path, Path]]:
    """(file, the folder it is reported relative to) under each root."""
    for root in roots:
        if root is None:
            continue
        if root.is_file():
            yield root, root.parent
            continue
        for path in sorted(root.rglob("*.py")):
            if "__pycache__" not in path.parts:
                yield path, root.parent


def _kernel_model(dotted: str) -> str | None:
    """What ``dotted`` (``lendkit.x.Name``) names, if it is a kernel model or a module of
    them outside the public API: the name to report, else None."""
    import importlib

    from lendkit.db import Base

    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        module_name = ".".join(parts[:end])
        try:
            target: Any = importlib.import_module(module_name)
        except ImportError:
            continue
        for attribute in parts[end:]:
            target = getattr(target, attribute, None)
        break
    else:
        return None
    if isinstance(target, type) and issubclass(target, Base) and hasattr(target, "__table__"):
        return dotted if target.__module__.split(".")[0] == "lendkit" else None
    if isinstance(target, type(importlib)) and target.__name__ not in PUBLIC_API:
        defines = any(
            isinstance(v, type) and issubclass(v, Base) and v.__module__ == target.__name__
            for v in vars(target).values()
        )
        return dotted if defines else None
    return None


def table_problems(*roots: Path | None) -> list[str]:
    """Where the Python files under ``roots`` read kernel tables directly, one line each.

    SQL text naming a kernel table (``select ... from loan``), ``metadata.tables``
    (and ``sorted_tables``, ``reflect``), ``Table("loan", ...)`` or ``table("loan")``,
    and imports of kernel models (``from lendkit.models import Borrower``).
    """
    import re

    names = kernel_tables()
    alternatives = "|".join(sorted(map(re.escape, names), key=len, reverse=True))
    table = rf"(?:public\.)?[\"`]?(?:{alternatives})\b"
    sql = re.compile(
        "|".join(shape.format(t=table) for shape in _SQL_SHAPES), re.IGNORECASE | re.DOTALL
    )
    problems: list[str] = []
    for path, base in _python_files(*roots):
        where = path.relative_to(base)
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except (SyntaxError, UnicodeDecodeError):
            continue  # the import check reports it
        nested = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        for node in ast.walk(tree):
            found: str | None = None
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                match = sql.search(node.value)
                if match:
                    found = f"SQL naming a kernel table: {' '.join(match.group().split())[:60]!r}"
            elif isinstance(node, ast.Attribute) and node.attr in _METADATA_READS:
                if isinstance(node.value, ast.Attribute) and node.value.attr == "metadata":
                    found = f"metadata.{node.attr} (the kernel's tables)"
            elif isinstance(node, ast.Call) and _called(node.func) in {"Table", "table"}:
                first = node.args[0] if node.args else None
                if isinstance(first, ast.Constant) and first.value in names:
                    found = f"{_called(node.func)}({first.value!r}), a kernel table"
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                if _is_kernel(node.module):
                    models = [
                        m
                        for alias in node.names
                        if (m := _kernel_model(f"{node.module}.{alias.name}"))
                    ]
                    found = f"imports kernel model {', '.join(models)}" if models else None
            elif isinstance(node, ast.Import):
                models = [
                    m for a in node.names if _is_kernel(a.name) and (m := _kernel_model(a.name))
                ]
                found = f"imports kernel models {', '.join(models)}" if models else None
            if found is None and isinstance(node, ast.Attribute) and id(node) not in nested:
                dotted = _dotted(node)
                if dotted and (model := _kernel_model(dotted)):
                    found = f"uses kernel model {model}"
            if found:
                problems.append(
                    f"{where}:{getattr(node, 'lineno', 0)}: reads kernel tables directly, "
                    f"{found} (read through lendkit.views)"
                )
    return sorted(set(problems), key=lambda line: (line.split(":")[0], _line_no(line)))


def _line_no(line: str) -> int:
    number = line.split(":")[1]
    return int(number) if number.isdigit() else 0


def _called(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    return func.attr if isinstance(func, ast.Attribute) else None


def _runtime_problems(
    name: str, package: str, enabled: list[str], root: Path, database_url: str | None
) -> list[str]:
    from lendkit import migrate
    from lendkit.plugins import make_plugin_manager
    from lendkit.settings import Settings

    problems: list[str] = []
    pm = make_plugin_manager(enabled)  # validates hook names and arguments
    problems += _unmarked_hooks(name, pm)
    write_master_key(root / "keys" / "master.key")
    settings = Settings(
        root=root,
        database={"url": database_url or f"sqlite:///{root / 'check.db'}"},
        plugins={"enabled": enabled},
    )
    runtime = open_runtime(settings)
    try:
        problems += _migration_problems(name, package, enabled, runtime.engine, migrate)
        problems += _route_problems(name, package, runtime)
    finally:
        runtime.close()
    problems += _pii_problems(name, package)
    return problems


def _unmarked_hooks(name: str, pm: Any) -> list[str]:
    from lendkit import hookspecs
    from lendkit.hookdoc import hook_names

    plugin = pm.get_plugin(name)
    marker = f"{hookspecs.hookspec.project_name}_impl"
    return [
        f"{name}: {hook}() looks like a hook implementation but lacks @lendkit.hookimpl"
        for hook in hook_names()
        if callable(getattr(plugin, hook, None)) and not hasattr(getattr(plugin, hook), marker)
    ]


def _plugin_tables(package: str) -> dict[str, str]:
    """Tables of the plugin's models: table name -> model class name."""
    from lendkit.db import Base

    found: dict[str, str] = {}
    for mapper in Base.registry.mappers:
        table = getattr(mapper.local_table, "name", None)
        if isinstance(table, str) and mapper.class_.__module__.split(".")[0] == package:
            found[table] = mapper.class_.__name__
    return found


def _migration_problems(
    name: str, package: str, enabled: list[str], engine: Any, migrate: Any
) -> list[str]:
    from alembic.util import CommandError
    from sqlalchemy import inspect
    from sqlalchemy.exc import SQLAlchemyError

    from lendkit.errors import StartupError

    def tables() -> set[str]:
        return set(inspect(engine).get_table_names())

    problems: list[str] = []
    needs = [n for n in enabled if n != name]
    try:
        has_branch = any(s.branch == name for s in migrate.status(engine, needs))
        migrate.upgrade(engine, needs)
        before = tables()
        migrate.upgrade(engine, enabled)
        made = tables() - before
        missing = {
            table: model for table, model in _plugin_tables(package).items() if table not in made
        }
        for table, model in sorted(missing.items()):
            if table not in before:
                problems.append(f"{name}: table {table} of model {model} has no migration")
        if has_branch:
            migrate.downgrade(engine, name, "base")
            left = made & tables()
            if left:
                problems.append(
                    f"{name}: downgrade to base leaves tables {', '.join(sorted(left))}"
                )
            migrate.upgrade(engine, enabled)
            if made - tables():
                problems.append(f"{name}: upgrade after downgrade does not recreate its tables")
    except (CommandError, SQLAlchemyError, StartupError) as exc:
        detail = getattr(exc, "detail", None) or str(exc).strip().splitlines()[0]
        problems.append(f"{name}: migrations fail: {detail}")
    return problems


def _route_problems(name: str, package: str, runtime: Runtime) -> list[str]:
    from lendkit.web.app import create_app

    problems: list[str] = []
    app = create_app(runtime)
    known: Mapping[str, str] = app.state.permissions.permissions
    for route in app.routes:
        for handler in _handlers(route):
            fn = getattr(handler, "fn", None)
            if getattr(fn, "__module__", "").split(".")[0] != package:
                continue
            methods = ",".join(sorted(getattr(handler, "http_methods", {"WEBSOCKET"})))
            permission = handler.opt.get("permission")
            if not isinstance(permission, str):
                problems.append(
                    f"{name}: route {methods} {route.path} declares no permission "
                    '(opt={"permission": ...})'
                )
            elif permission not in known:
                problems.append(
                    f"{name}: route {methods} {route.path} names permission {permission!r}, "
                    "which nobody registers (the guard refuses it with 403)"
                )
    return problems


def _handlers(route: Any) -> list[Any]:
    """The handlers of an HTTP route, or the one of a WebSocket or mounted ASGI route."""
    handlers = getattr(route, "route_handlers", None)
    return list(handlers) if handlers is not None else [route.route_handler]


def _looks_personal(column: str) -> bool:
    lowered = column.lower()
    tokens = lowered.split("_")
    if tokens[-1] in {"id", "ids"}:
        return False  # a reference to a row, not the data
    return bool(_PII_WORDS & set(tokens)) or any(part in lowered for part in _PII_PARTS)


def _pii_problems(name: str, package: str) -> list[str]:
    from lendkit.crypto.orm import BlindIndex, Encrypted
    from lendkit.db import Base

    problems: list[str] = []
    for table_name in sorted(_plugin_tables(package)):
        table = Base.metadata.tables[table_name]
        for column in table.columns:
            if not _looks_personal(column.name) or column.info.get("pii") is False:
                continue
            if isinstance(column.type, Encrypted | BlindIndex):
                continue
            problems.append(
                f"{name}: column {table_name}.{column.name} looks like personal data but is "
                'stored in clear (use Encrypted(), or info={"pii": False} if it is not)'
            )
    return problems
