"""No MD5 or SHA-1 in our code: the source tree is scanned token by token.

A vendor whose wire format demands one (e签宝's ``Content-MD5``) gets a plugin of
its own, added to ``VENDOR_WIRE_FORMAT_ALLOWLIST`` with the reason; nothing
else may use these digests, for storage or otherwise.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("kernel", "plugins", "partner_template")

# plugins/<name> -> why its vendor's wire format needs MD5 or SHA-1. None yet.
VENDOR_WIRE_FORMAT_ALLOWLIST: dict[str, str] = {}

PYTHON = {".py", ".pyi", ".mako"}
OTHER_TEXT = {".js", ".mjs", ".ts", ".html", ".jinja", ".j2", ".sql", ".toml", ".cfg", ".ini"}
SKIPPED_DIRS = {
    "__pycache__",
    ".venv",
    "node_modules",
    ".mypy_cache",
    ".ruff_cache",
    "dist",
    "build",
}

_NAME = re.compile(r"(?i)(?:^|_)(md5|sha_?1)(?:$|_)")
_ALGORITHM_STRING = re.compile(r"(?i)^\s*(md5|sha-?1)\s*$")
_CALL = re.compile(r"(?i)\b(md5|sha-?1)\s*\(")
_TEXT = re.compile(
    r"(?i)\b(md5|sha-?1)\s*\(|hashlib\.(md5|sha1)\b|hashes\.(md5|sha1)\b|CryptoJS\.(MD5|SHA1)\b"
)


def python_findings(source: str) -> list[tuple[int, str]]:
    """(line, token) of every MD5/SHA-1 use in Python source; comments ignored."""
    found = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.NAME and _NAME.search(token.string):
            found.append((token.start[0], token.string))
        elif token.type == tokenize.STRING:
            try:
                value = ast.literal_eval(token.string)
            except (ValueError, SyntaxError):
                value = token.string  # an f-string: look at its text
            if isinstance(value, bytes):
                value = value.decode("latin-1")
            if isinstance(value, str) and (_ALGORITHM_STRING.match(value) or _CALL.search(value)):
                found.append((token.start[0], token.string[:60]))
    return found


def text_findings(source: str) -> list[tuple[int, str]]:
    return [
        (number, match.group(0))
        for number, line in enumerate(source.splitlines(), 1)
        for match in _TEXT.finditer(line)
    ]


def scanned_files() -> list[Path]:
    files = []
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*")):
            relative = path.relative_to(ROOT)
            if not path.is_file() or SKIPPED_DIRS & set(relative.parts):
                continue
            if relative.parts[0] == "plugins" and relative.parts[1] in VENDOR_WIRE_FORMAT_ALLOWLIST:
                continue
            if path.suffix in PYTHON | OTHER_TEXT:
                files.append(path)
    return files


def test_no_md5_or_sha1_in_kernel_or_plugins():
    files = scanned_files()
    assert any(p.name == "passwords.py" for p in files)  # the scan does look at our code
    offences = []
    for path in files:
        source = path.read_text(encoding="utf-8")
        scan = python_findings if path.suffix in PYTHON else text_findings
        offences += [f"{path.relative_to(ROOT)}:{line}: {what}" for line, what in scan(source)]

    assert not offences, "MD5/SHA-1 outside an allow-listed vendor plugin:\n" + "\n".join(offences)


def test_every_allowlisted_plugin_exists_and_says_why():
    for name, reason in VENDOR_WIRE_FORMAT_ALLOWLIST.items():
        assert (ROOT / "plugins" / name).is_dir(), name
        assert len(reason.split()) >= 5, f"say why {name} needs a weak digest"


@pytest.mark.parametrize(
    "snippet",
    [
        "import hashlib\nhashlib.md5(b'x')",
        "hashlib.sha1(b'x').hexdigest()",
        "from cryptography.hazmat.primitives import hashes\nhashes.MD5()",
        "h = hashes.SHA1()",
        "hashlib.new('md5')",
        "hmac.new(key, msg, digestmod='sha1')",
        "hashlib.new(name='SHA-1')",
        "from Crypto.Hash import MD5",
        "from hashlib import sha1 as s",
        "session.execute(text('SELECT md5(password) FROM staff'))",
        'q = f"SELECT sha1({column})"',
        "content_md5 = digest(body)",
    ],
)
def test_the_scanner_catches_each_form(snippet):
    assert python_findings(snippet), snippet


@pytest.mark.parametrize(
    "snippet",
    [
        "hashes.SHA256()",
        "hashes.SM3()",
        "# md5 and sha1 are banned here (a comment)",
        '"""Vendors send a Content-MD5 header; we do not compute it."""',
        "sha256 = 1\nsha512 = 2",
    ],
)
def test_the_scanner_leaves_clean_code_alone(snippet):
    assert python_findings(snippet) == [], snippet


def test_the_text_scanner_catches_templates_and_sql():
    assert text_findings("<script>CryptoJS.MD5(value)</script>")
    assert text_findings("SELECT sha1(x) FROM t")
    assert text_findings("UPDATE t SET h = md5 (x)")
    assert not text_findings("<p>SHA-256 and SM3 only</p>")
