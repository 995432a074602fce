"""The sandbox :class:`~lendkit.types.PaymentChannel`: the gateway's merchant API over HTTP."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx
from lendkit.types import (
    ChannelAck,
    ChannelError,
    ChannelResult,
    PaymentInstruction,
    StatementLine,
)
from lendkit.vendorkit.callbacks import verify_callback
from lendkit.vendorkit.errors import VendorError

from lendkit_channel_sandbox import signing
from lendkit_channel_sandbox.statement import StatementFormatError, parse

__all__ = ["SandboxChannel"]

TYPES = {"disburse": "PAYOUT", "collect": "WITHHOLD"}
KINDS = {"PAYOUT": "disburse", "WITHHOLD": "collect"}


class SandboxChannel:
    """Talks to a :class:`~lendkit_channel_sandbox.gateway.SandboxGateway`.

    Every request is signed with the merchant secret; every callback's
    signature is checked before its body is read.
    """

    def __init__(
        self,
        base_url: str,
        merchant_id: str,
        secret: str,
        *,
        name: str = "sandbox",
        timeout: float = 10.0,
    ) -> None:
        self._name = name
        self._base = base_url.rstrip("/")
        self._merchant = merchant_id
        self._secret = secret
        self._timeout = timeout
        self._check_callback = signing.SCHEME.checker(
            secret, "POST", signing.NOTIFY_PATH, merchant=merchant_id
        )

    @property
    def name(self) -> str:
        return self._name

    @property
    def url(self) -> str:
        """The gateway's base URL (the kernel names it when the gateway is down)."""
        return self._base

    def __repr__(self) -> str:
        return f"SandboxChannel({self._name!r}, {self._base!r})"

    # -- requests ----------------------------------------------------------------

    def _call(
        self, method: str, path: str, payload: dict[str, Any] | None = None
    ) -> httpx.Response:
        body = b"" if payload is None else json.dumps(payload, separators=(",", ":")).encode()
        headers = signing.signed_headers(self._merchant, self._secret, method, path, body)
        if payload is not None:
            headers["Content-Type"] = "application/json"
        try:
            response = httpx.request(
                method, self._base + path, content=body, headers=headers, timeout=self._timeout
            )
        except httpx.HTTPError as exc:
            raise ChannelError(
                "unavailable", f"{type(exc).__name__} talking to the gateway"
            ) from None
        if response.status_code == 401:
            raise ChannelError("bad_signature", "the gateway refused our signature")
        if response.status_code >= 500:
            raise ChannelError("unavailable", f"gateway answered {response.status_code}")
        return response

    def _submit(self, instruction: PaymentInstruction) -> ChannelAck:
        response = self._call(
            "POST",
            "/v1/payments",
            {
                "merchant_order_no": instruction.order_no,
                "type": TYPES[instruction.kind],
                "amount": f"{instruction.amount:.2f}",
                "account_name": instruction.account_name,
                "card_no": instruction.card_number,
                "notify_url": instruction.callback_url,
                "memo": instruction.memo,
            },
        )
        answer = _json(response)
        if response.status_code != 200:
            # 400/409: our request is wrong; the order cannot go through as it is.
            return ChannelAck(
                False,
                code=str(answer.get("code", "BAD_REQUEST")),
                message=str(answer.get("message", "")),
            )
        if answer.get("code") == "ACCEPTED":
            return ChannelAck(True, channel_ref=answer.get("gateway_ref"))
        return ChannelAck(
            False,
            channel_ref=answer.get("gateway_ref"),
            code=str(answer.get("error_code") or "REJECTED"),
            message=str(answer.get("error_message", "")),
        )

    def disburse(self, instruction: PaymentInstruction) -> ChannelAck:
        return self._submit(instruction)

    def collect(self, instruction: PaymentInstruction) -> ChannelAck:
        return self._submit(instruction)

    def query(self, order_no: str) -> ChannelResult:
        response = self._call("GET", f"/v1/payments/{order_no}")
        if response.status_code == 404:
            return ChannelResult(order_no=order_no, status="unknown")
        if response.status_code != 200:
            raise ChannelError("bad_format", f"query answered {response.status_code}")
        return _result(_json(response))

    def parse_callback(self, headers: Mapping[str, str], body: bytes) -> ChannelResult:
        try:
            return _result(verify_callback(headers, body, self._check_callback))
        except VendorError as exc:
            raise ChannelError(exc.code, str(exc)) from None

    def statement(self, business_date: date) -> list[StatementLine] | None:
        response = self._call("GET", f"/v1/statements/{business_date.isoformat()}")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise ChannelError("bad_format", f"statement answered {response.status_code}")
        try:
            rows = parse(response.text)
        except StatementFormatError as exc:
            raise ChannelError("bad_format", f"statement of {business_date}: {exc}") from None
        return [
            StatementLine(
                settled_on=row.settle_date,
                order_no=row.merchant_order_no,
                channel_ref=row.gateway_ref,
                kind="disburse" if row.type == "PAYOUT" else "collect",
                amount=row.amount,
                status="succeeded" if row.status == "SUCCESS" else "failed",
                fee=row.fee,
                code=row.error_code,
            )
            for row in rows
        ]


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        payload = response.json()
    except ValueError:
        raise ChannelError("bad_format", "the gateway's answer is not JSON") from None
    if not isinstance(payload, dict):
        raise ChannelError("bad_format", "the gateway's answer is not a JSON object")
    return payload


STATUSES = {"SUCCESS": "succeeded", "FAIL": "failed", "PROCESSING": "pending", "REJECTED": "failed"}


def _result(payload: Mapping[str, Any]) -> ChannelResult:
    try:
        status = STATUSES[str(payload["status"])]
        amount = Decimal(str(payload["amount"])) if payload.get("amount") else None
        settled = payload.get("settle_date")
        return ChannelResult(
            order_no=str(payload["merchant_order_no"]),
            status=status,  # type: ignore[arg-type]
            amount=amount,
            channel_ref=payload.get("gateway_ref"),
            code=str(payload.get("error_code") or ""),
            message=str(payload.get("error_message") or ""),
            settled_on=date.fromisoformat(settled) if settled else None,
        )
    except (KeyError, ValueError, InvalidOperation):
        raise ChannelError("bad_format", "result fields missing or malformed") from None
