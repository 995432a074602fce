"""Documentation that code keeps honest: the hook reference and the docs it links."""

from __future__ import annotations

import re
from pathlib import Path

from lendkit import hookdoc, hookspecs

ROOT = Path(__file__).resolve().parents[1]


def test_every_hook_has_a_docstring():
    for name in hookdoc.hook_names():
        doc = getattr(hookspecs, name).__doc__ or ""
        assert len(doc.split()) >= 15, f"hook {name} is not documented"


def test_hook_reference_in_docs_is_current():
    text = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    section = text[text.index(hookdoc.START) : text.index(hookdoc.END) + len(hookdoc.END)]
    assert section == hookdoc.render(), "run `python -m lendkit.hookdoc` to refresh docs/plugins.md"


def test_every_hook_appears_in_the_architecture_catalogue():
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    missing = [name for name in hookdoc.hook_names() if f"`{name}`" not in text]
    assert not missing, f"docs/architecture.md hook catalogue lacks {missing}"


def test_relative_links_in_markdown_resolve():
    for page in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"
