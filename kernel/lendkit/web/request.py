"""The app's request class: JSON bodies decoded by :mod:`lendkit.web.bodies`.

Litestar decodes a JSON body itself and turns a body that is not UTF-8, or
one nested thousands deep, into a 500. Every ``data: JSONBody[...]``
parameter is read through :meth:`LendkitRequest.json`, so those bodies get
their own 400 (``body_not_utf8``, ``body_too_deep``, ``body_not_json``)
before any handler runs.
"""

from __future__ import annotations

from typing import Any

from litestar import Request

from lendkit.web.bodies import decode_json

__all__ = ["LendkitRequest"]


class LendkitRequest(Request[Any, Any, Any]):
    __slots__ = ()

    async def json(self) -> Any:
        """The body as JSON, refused with a specific 400 when it cannot be read.

        The body itself is cached by litestar; decoding it again on a second
        call is cheaper than keeping a second copy.
        """
        return decode_json(await self.body())
