"""Reading request bodies by hand, so that even a malformed or wrongly typed body
gets a specific, bilingual 4xx instead of a framework's generic one (or a 500).

A JSON body is checked in this order, each refusal a 400 with its own code:

* ``body_not_utf8`` — the bytes are not UTF-8 (RFC 8259 §8.1 requires it);
* ``body_too_deep`` — arrays and objects nested more than :data:`MAX_DEPTH` deep;
* ``body_not_json`` — not JSON at all;
* ``body_number_out_of_range`` — a number no float holds (``1e400``): amounts
  go as strings.

The size is checked before any of these, as the body is read (413
``body_too_large``, ``[server] max_body_kib``). Depth is counted on the raw
bytes before decoding, so a body nested thousands deep never reaches a
recursive decoder.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from itertools import accumulate
from typing import Any

import msgspec

from lendkit.errors import LendkitError, ValidationFailed

__all__ = ["MAX_DEPTH", "BodyRefused", "decode_json", "json_object", "nesting_depth"]

# Deeper than any body the kit reads (they are two or three levels deep), far
# shallower than a decoder's recursion limit.
MAX_DEPTH = 64

# A JSON string, escapes included: what the depth count must not look inside.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
# Every byte that is not a bracket, for bytes.translate to drop.
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
# A bracket's step in the running depth.
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


class BodyRefused(LendkitError):
    """A request body that cannot be read at all; ``code`` says why."""

    status = 400
    code = "body_not_json"
    title = "请求体无法读取 / Unreadable request body"


def nesting_depth(body: bytes) -> int:
    """How deep arrays and objects nest in ``body``, counted without parsing it.

    Brackets inside strings do not count. Linear in the body's length and
    without recursion, whatever the body holds.
    """
    brackets = _STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    openers = brackets.count(b"[") + brackets.count(b"{")
    if openers <= MAX_DEPTH:
        return openers  # an upper bound, and within the limit: no need to count exactly
    return max(accumulate(_STEP[b] for b in brackets))


def decode_json(body: bytes) -> Any:
    """``body`` as JSON (an empty body is ``None``); :class:`BodyRefused` if it is not."""
    if not body.strip():
        return None
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyRefused(
            f"请求体须为 UTF-8 编码（第 {exc.start} 字节起无效） / the body must be UTF-8 "
            f"(invalid from byte {exc.start})",
            code="body_not_utf8",
        ) from None
    if nesting_depth(body) > MAX_DEPTH:
        raise BodyRefused(
            f"请求体嵌套超过 {MAX_DEPTH} 层 / the body nests arrays and objects more than "
            f"{MAX_DEPTH} deep",
            code="body_too_deep",
        )
    try:
        return msgspec.json.decode(body)
    except msgspec.ValidationError as exc:  # JSON, but a number beyond any float
        raise BodyRefused(
            f"请求体中的数字超出范围，金额请用字符串 / a number in the body is out of range; "
            f"send amounts as strings ({exc})",
            code="body_number_out_of_range",
        ) from None
    except (msgspec.DecodeError, RecursionError) as exc:
        raise BodyRefused(
            f"请求体不是有效的 JSON / the body is not valid JSON ({exc})", code="body_not_json"
        ) from None


def json_object(data: object) -> Mapping[str, Any]:
    """The body as a JSON object (an absent body is an empty one); 422 ``invalid_body``."""
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ValidationFailed(
            "请求体须为 JSON 对象 / the body must be a JSON object", code="invalid_body"
        )
    return data
