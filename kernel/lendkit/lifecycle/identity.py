"""Real-name details checked for form before anyone is asked to verify them.

A typo must be caught at once, with a message that says which field and
why (R12), before a vendor is paid to check the claim. Every check here is
offline and deterministic:

* **name** — 2 to 30 Chinese characters, middle dots allowed (维吾尔族
  names such as 买买提·艾力); ``name_invalid``.
* **resident ID number** (GB 11643, through python-stdnum's
  ``stdnum.cn.ric``) — 18 characters with the ISO 7064 MOD 11-2 check
  digit (``id_number_invalid``), a real birth date
  (``id_birth_date_invalid``) that is not in the future
  (``id_birth_date_in_future``), a region code GB/T 2260 knows for that
  birth year (``id_region_invalid``), and a borrower of at least 18
  (``id_underage``: lending to minors is not allowed).
* **bank card** — 16 to 19 digits and the Luhn check digit
  (``stdnum.luhn``). Not every Chinese card is known to pass Luhn, so a
  failure on a card whose BIN we recognise is ``bank_card_unconfirmed``
  (the holder may confirm the number), and on any other card
  ``bank_card_invalid``. The BIN table names the bank and card kind: a hint
  for the person typing, never a decision.
* **mobile number** — mainland ``1[3-9]`` and nine digits; ``phone_invalid``.

All failures are collected, so one answer lists every field to fix
(:class:`InvalidIdentity`, 422; its ``code`` is the first problem's).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType
from typing import Literal, TypeVar

from stdnum import luhn
from stdnum.cn import ric
from stdnum.exceptions import ValidationError as StdnumError

from lendkit.clock import china_today
from lendkit.crypto.blind import normalize
from lendkit.errors import FieldProblem, ValidationFailed

__all__ = [
    "BIN_TABLE",
    "MIN_AGE",
    "BinHint",
    "CardCheck",
    "IdNumber",
    "InvalidIdentity",
    "RealName",
    "card_hint",
    "check_bank_card",
    "check_id_number",
    "check_name",
    "check_phone",
    "check_real_name",
]

MIN_AGE = 18
T = TypeVar("T")
_MOBILE = re.compile(r"1[3-9]\d{9}")
_HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_NAME = re.compile(rf"[{_HAN}]+(?:·[{_HAN}]+)*")
_DOTS = str.maketrans({"•": "·", "・": "·", "．": "·", ".": "·", "‧": "·"})


class InvalidIdentity(ValidationFailed):
    """422: real-name details that fail a check; ``problems`` lists each field."""

    title = "Invalid real-name details"

    def __init__(self, problems: Iterable[FieldProblem]) -> None:
        self.problems = tuple(problems)
        first = self.problems[0]
        super().__init__(first.detail, code=first.code, errors=self.problems)


def _fail(field_name: str, code: str, detail: str) -> InvalidIdentity:
    return InvalidIdentity([FieldProblem(field_name, code, detail)])


# -- Name -------------------------------------------------------------------


def check_name(value: str) -> str:
    """The name as stored: NFKC, no spaces, middle dots unified."""
    name = "".join(unicodedata.normalize("NFKC", value).split()).translate(_DOTS)
    if not (2 <= len(name) <= 30 and _NAME.fullmatch(name)):
        raise _fail(
            "name",
            "name_invalid",
            "姓名须为 2–30 个汉字（少数民族姓名可用间隔号“·”），与身份证一致。"
            "The name must be 2 to 30 Chinese characters (a middle dot · may separate "
            "parts), exactly as on the ID card.",
        )
    return name


# -- Mobile number ------------------------------------------------------------


def check_phone(value: str, field_name: str = "phone") -> str:
    """The 11-digit mainland mobile number (``+86`` and spaces removed)."""
    digits = normalize("phone", value)
    if not _MOBILE.fullmatch(digits):
        raise _fail(
            field_name,
            "phone_invalid",
            "手机号码须为 11 位中国大陆手机号（以 13–19 开头）。"
            "Enter an 11-digit mainland mobile number starting with 13 to 19.",
        )
    return digits


# -- Resident ID number -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IdNumber:
    """A resident ID number that passed every check, and what it says."""

    number: str = field(repr=False)
    birth_date: date = field(repr=False)
    region: str = field(repr=False)  # e.g. 北京市东城区, from stdnum's GB/T 2260 table
    sex: Literal["F", "M"] = field(repr=False)


def _id_problem(code: str, detail: str) -> InvalidIdentity:
    return _fail("id_number", code, detail)


def check_id_number(value: str, today: date | None = None) -> IdNumber:
    """Validate a resident ID number in the order a person would fix it."""
    today = today or china_today()
    number = normalize("id_number", value)
    if len(number) == 15 and number.isdigit():
        raise _id_problem(
            "id_number_invalid",
            "15 位旧身份证号已停用，请填写 18 位居民身份证号码。"
            "Fifteen-digit ID numbers are no longer valid: enter the 18-character number.",
        )
    if len(number) != 18 or not number[:17].isdigit() or number[17] not in "0123456789X":
        raise _id_problem(
            "id_number_invalid",
            "身份证号码须为 18 位：前 17 位数字，最后一位为数字或 X。"
            "The ID number has 18 characters: 17 digits, then a digit or X.",
        )
    if number[17] != ric.calc_check_digit(number):
        raise _id_problem(
            "id_number_invalid",
            "身份证号码校验位不正确，请逐位核对。"
            "The ID number's check digit is wrong: please check every digit.",
        )
    try:
        born = ric.get_birth_date(number)
    except StdnumError:
        born = None
    if born is None or born < date(1900, 1, 1):
        raise _id_problem(
            "id_birth_date_invalid",
            "身份证号码中的出生日期（第 7–14 位）不是有效日期。"
            "The birth date in the ID number (characters 7 to 14) is not a real date.",
        )
    if born > today:
        raise _id_problem(
            "id_birth_date_in_future",
            "身份证号码中的出生日期晚于今天，请核对。"
            "The birth date in the ID number is later than today: please check it.",
        )
    try:
        place = ric.get_birth_place(number)
    except StdnumError:
        raise _id_problem(
            "id_region_invalid",
            "身份证号码前 6 位不是有效的行政区划代码。"
            "The first six digits of the ID number are not a valid region code.",
        ) from None
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    if age < MIN_AGE:
        raise _id_problem(
            "id_underage",
            f"借款人须年满 {MIN_AGE} 周岁。A borrower must be at least {MIN_AGE} years old.",
        )
    region = "".join(place.get(k, "") for k in ("province", "prefecture", "county"))
    return IdNumber(number, born, region, "M" if int(number[16]) % 2 else "F")


# -- Bank card ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BinHint:
    """What a card's first digits suggest: issuing bank and card kind."""

    prefix: str
    bank_zh: str
    bank_en: str
    kind: Literal["debit", "credit"]


def _table(
    rows: Iterable[tuple[str, str, str, Literal["debit", "credit"]]],
) -> Mapping[str, BinHint]:
    return MappingProxyType({p: BinHint(p, zh, en, kind) for p, zh, en, kind in rows})


# A small, hand-kept table of widely published UnionPay BINs of large banks.
# Hints only: the channel's BIN service or a vendor plugin is the authority.
BIN_TABLE: Mapping[str, BinHint] = _table(
    [
        ("622202", "中国工商银行", "ICBC", "debit"),
        ("622203", "中国工商银行", "ICBC", "debit"),
        ("622208", "中国工商银行", "ICBC", "debit"),
        ("621226", "中国工商银行", "ICBC", "debit"),
        ("621288", "中国工商银行", "ICBC", "debit"),
        ("622848", "中国农业银行", "Agricultural Bank of China", "debit"),
        ("622845", "中国农业银行", "Agricultural Bank of China", "debit"),
        ("622846", "中国农业银行", "Agricultural Bank of China", "debit"),
        ("621700", "中国建设银行", "China Construction Bank", "debit"),
        ("622700", "中国建设银行", "China Construction Bank", "debit"),
        ("436742", "中国建设银行", "China Construction Bank", "debit"),
        ("601382", "中国银行", "Bank of China", "debit"),
        ("621661", "中国银行", "Bank of China", "debit"),
        ("622260", "交通银行", "Bank of Communications", "debit"),
        ("622262", "交通银行", "Bank of Communications", "debit"),
        ("622588", "招商银行", "China Merchants Bank", "debit"),
        ("621483", "招商银行", "China Merchants Bank", "debit"),
        ("622575", "招商银行", "China Merchants Bank", "credit"),
        ("622576", "招商银行", "China Merchants Bank", "credit"),
        ("622188", "中国邮政储蓄银行", "Postal Savings Bank of China", "debit"),
        ("621799", "中国邮政储蓄银行", "Postal Savings Bank of China", "debit"),
        ("621790", "中国邮政储蓄银行", "Postal Savings Bank of China", "debit"),
        ("622909", "兴业银行", "Industrial Bank", "debit"),
    ]
)


def card_hint(number: str) -> BinHint | None:
    """The table's entry for the longest matching prefix of ``number``, if any."""
    for length in range(min(len(number), 8), 3, -1):
        hint = BIN_TABLE.get(number[:length])
        if hint is not None:
            return hint
    return None


@dataclass(frozen=True, slots=True)
class CardCheck:
    """A card number that may be used, with its hint and any warnings."""

    number: str = field(repr=False)
    luhn_valid: bool
    hint: BinHint | None
    warnings: tuple[str, ...] = ()


def check_bank_card(value: str, *, confirmed: bool = False) -> CardCheck:
    """Validate a card number; ``confirmed``: the holder insists on a non-Luhn number."""
    number = normalize("card", value)
    if re.search(r"[^\d\s-]", unicodedata.normalize("NFKC", value)) or not 16 <= len(number) <= 19:
        raise _fail(
            "bank_card",
            "bank_card_invalid",
            "银行卡号须为 16–19 位数字。A bank card number has 16 to 19 digits.",
        )
    hint = card_hint(number)
    warnings = ("credit_card",) if hint is not None and hint.kind == "credit" else ()
    if luhn.is_valid(number):
        return CardCheck(number, True, hint, warnings)
    if hint is None:
        raise _fail(
            "bank_card",
            "bank_card_invalid",
            "银行卡号校验失败，请逐位核对卡号。"
            "The card number fails its check digit: please check every digit.",
        )
    if not confirmed:
        raise _fail(
            "bank_card",
            "bank_card_unconfirmed",
            f"卡号看似{hint.bank_zh}的卡，但校验位不符；请核对，确认无误请勾选“卡号无误”后重新提交。"
            f"This looks like a {hint.bank_en} card, but its check digit does not match: "
            "check it, and if it is right, submit again with card_confirmed set.",
        )
    return CardCheck(number, False, hint, (*warnings, "card_check_digit_unconfirmed"))


# -- Everything at once -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RealName:
    """A borrower's real-name details, every field checked."""

    name: str = field(repr=False)
    id_number: IdNumber
    card: CardCheck
    phone: str = field(repr=False)


def _collect(problems: list[FieldProblem], check: Callable[[], T]) -> T | None:
    """Run one check; on failure add its problems and return None."""
    try:
        return check()
    except InvalidIdentity as exc:
        problems.extend(exc.problems)
        return None


def check_real_name(
    name: str,
    id_number: str,
    bank_card: str,
    phone: str,
    *,
    card_confirmed: bool = False,
    today: date | None = None,
) -> RealName:
    """Check all four fields; raise one :class:`InvalidIdentity` listing every problem."""
    problems: list[FieldProblem] = []
    checked_name = _collect(problems, lambda: check_name(name))
    checked_id = _collect(problems, lambda: check_id_number(id_number, today))
    checked_card = _collect(problems, lambda: check_bank_card(bank_card, confirmed=card_confirmed))
    checked_phone = _collect(problems, lambda: check_phone(phone))
    if problems:
        raise InvalidIdentity(problems)
    assert checked_name is not None
    assert checked_id is not None
    assert checked_card is not None
    assert checked_phone is not None
    return RealName(checked_name, checked_id, checked_card, checked_phone)
