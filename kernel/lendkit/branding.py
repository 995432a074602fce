"""The tenant's logo: a file in the tenant folder, named by ``tenant.logo``.

The setting is validated when the settings load (a relative path inside the
tenant folder, one of the image types below); the file itself may be missing
(the pages then show the brand name alone). The web app serves it at
``LOGO_PATH`` (lendkit.web.branding) and the layout shows it in the header.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lendkit.settings import Settings

__all__ = ["LOGO_MEDIA_TYPES", "LOGO_PATH", "Logo", "check_logo_setting", "find_logo", "logo_url"]

LOGO_PATH = "/branding/logo"
LOGO_MEDIA_TYPES = {
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
}


def check_logo_setting(value: str) -> str:
    """``tenant.logo``: a relative path that stays in the tenant folder, of an image type."""
    path = PurePosixPath(value)
    if path.is_absolute() or ".." in path.parts or "\\" in value or not path.name:
        raise ValueError("expected a path inside the tenant folder, like branding/logo.png")
    if path.suffix.lower() not in LOGO_MEDIA_TYPES:
        raise ValueError(f"expected an image file ({', '.join(LOGO_MEDIA_TYPES)})")
    return value


@dataclass(frozen=True, slots=True)
class Logo:
    """The logo's bytes as served, with its media type and entity tag."""

    content: bytes
    media_type: str

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    @property
    def etag(self) -> str:
        return f'"{self.digest[:32]}"'


def find_logo(settings: Settings) -> Logo | None:
    """The tenant's logo, read now; None when none is set or the file is missing."""
    if not settings.tenant.logo:
        return None
    # Joined to the folder the settings came from; the setting cannot climb out of it.
    file: Path = settings.root / settings.tenant.logo
    try:
        content = file.read_bytes()
    except OSError:
        return None
    return Logo(content, LOGO_MEDIA_TYPES[file.suffix.lower()])


def logo_url(settings: Settings) -> str | None:
    """Where the pages load the logo from; the query changes with the file, for caches."""
    logo = find_logo(settings)
    return None if logo is None else f"{LOGO_PATH}?v={logo.digest[:12]}"
