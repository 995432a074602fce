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


def test_every_hook_docstring_follows_the_template():
    problems = [line for name in hookdoc.hook_names() for line in hookdoc.template_problems(name)]
    assert problems == []


def test_the_template_check_finds_what_is_missing(monkeypatch):
    def bare(session):
        """Do something.

        Returns: nothing.
        """

    monkeypatch.setattr(hookspecs, "bare", bare, raising=False)
    assert hookdoc.template_problems("bare") == [
        "bare: no 'Called:' paragraph",
        "bare: no 'If it raises:' paragraph",
        "bare: :param lines [] do not match arguments ['session']",
    ]


def test_hooks_are_grouped_by_kind_in_the_order_they_are_defined():
    grouped = [hook for hooks in hookspecs.KINDS.values() for hook in hooks]
    assert grouped == hookdoc.hook_names()
    assert list(hookspecs.KINDS) == ["registration", "decision", "delivery", "event"]


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
