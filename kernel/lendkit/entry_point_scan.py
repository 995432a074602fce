"""Entry points of the installed distributions, read straight from their ``entry_points.txt``.

For the CLI's start alone (the plugin host keeps :mod:`importlib.metadata`).
Importing :mod:`importlib.metadata` pulls in the email parser, zipfile, csv
and importlib.resources: on this kit's machine that costs as much as click
itself, a third of what ``lendkit --help`` may take. This reads the same
files the same way — every ``*.dist-info`` and ``*.egg-info`` folder of each
``sys.path`` folder, in order, the first distribution of a name winning —
and tests/test_cli.py checks that it finds what importlib.metadata finds.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections.abc import Collection, Iterator
from dataclasses import dataclass

__all__ = ["EntryPoint", "normal_name", "scan"]

_METADATA_FOLDERS = (".dist-info", ".egg-info")


def normal_name(distribution: str) -> str:
    """A distribution name as packaging compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", distribution).lower()


@dataclass(frozen=True, slots=True)
class EntryPoint:
    """``name = value`` in ``group`` of the distribution ``distribution`` (a normal name)."""

    name: str
    value: str
    group: str
    distribution: str

    def load(self) -> object:
        """Import the module of ``module:attribute.path`` and return the attribute."""
        module, _, attributes = self.value.partition(":")
        loaded: object = importlib.import_module(module.strip())
        path = attributes.partition("[")[0].strip()  # extras, if any, play no part here
        for part in path.split(".") if path else ():
            loaded = getattr(loaded, part)
        return loaded


def scan(groups: Collection[str]) -> list[EntryPoint]:
    """The entry points in ``groups`` of every distribution importable from ``sys.path``."""
    seen: set[str] = set()
    found: list[EntryPoint] = []
    for folder in sys.path:
        for metadata in _metadata_folders(folder or "."):
            # "name-version.dist-info" (or "name.egg-info"): the name alone tells them apart.
            distribution = normal_name(os.path.basename(metadata).rpartition(".")[0].split("-")[0])
            if distribution in seen:
                continue  # shadowed by one earlier on sys.path, as importlib.metadata does
            seen.add(distribution)
            try:
                with open(os.path.join(metadata, "entry_points.txt"), encoding="utf-8") as file:
                    text = file.read()
            except OSError:
                continue  # no entry points (or an egg-info file, which has none to read)
            found.extend(_parse(text, groups, distribution))
    return found


def _metadata_folders(folder: str) -> Iterator[str]:
    try:
        children = os.listdir(folder)
    except OSError:  # a zip file or a folder that is gone: no plugin lives there
        return
    for child in children:
        if child.lower().endswith(_METADATA_FOLDERS):
            yield os.path.join(folder, child)


def _parse(text: str, groups: Collection[str], distribution: str) -> Iterator[EntryPoint]:
    """The ``[group]`` sections of an ``entry_points.txt`` (an INI file) that are wanted."""
    group = ""  # lines before the first section belong to none
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            group = line[1:-1].strip()
        elif group in groups and "=" in line:
            name, _, value = line.partition("=")
            yield EntryPoint(name.strip(), value.strip(), group, distribution)
