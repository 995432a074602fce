"""Plausible, valid demo identities: real region codes, correct check digits.

Numbers pass python-stdnum's checks, so the demo behaves like production;
they are generated, and belong to nobody.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

from stdnum import luhn
from stdnum.cn import ric

if TYPE_CHECKING:
    from lendkit.models import Borrower

__all__ = ["DemoPerson", "demo_people"]

# Real county-level codes (GB/T 2260), so stdnum's region check passes.
REGIONS = ("110101", "110105", "310104", "310115", "440106", "440305", "330106", "510107", "420106")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = (
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "强",
    "磊",
    "洋",
    "艳",
    "勇",
    "军",
    "杰",
    "娟",
    "涛",
    "明",
    "超",
)
STREETS = ("朝阳路", "人民路", "解放路", "中山路", "建设路", "和平路")
CITIES = {
    "11": "北京市",
    "31": "上海市",
    "44": "广东省",
    "33": "浙江省",
    "51": "四川省",
    "42": "湖北省",
}
CARD_BINS = ("622202", "621700", "622848", "621226")  # ICBC, CCB, ABC, ICBC debit


@dataclass(frozen=True, slots=True)
class DemoPerson:
    name: str
    phone: str
    id_number: str
    bank_card: str
    address: str

    def verified_borrower(self) -> Borrower:
        """This person as a borrower whose real name is verified (not yet added to a session)."""
        from lendkit.models import Borrower

        return Borrower(
            phone=self.phone,
            name=self.name,
            id_number=self.id_number,
            bank_card=self.bank_card,
            address=self.address,
            kyc_status="verified",
        )


def _id_number(rng: random.Random) -> str:
    while True:
        born = date(1965, 1, 1) + timedelta(days=rng.randrange(365 * 38))
        body = f"{rng.choice(REGIONS)}{born:%Y%m%d}{rng.randrange(1000):03d}"
        number = body + ric.calc_check_digit(body + "0")  # stdnum wants a placeholder digit
        # Some counties were created later than the birth date: draw again.
        if ric.is_valid(number):
            return number


def _card(rng: random.Random) -> str:
    body = rng.choice(CARD_BINS) + "".join(str(rng.randrange(10)) for _ in range(12))
    return body + luhn.calc_check_digit(body)


def demo_people(count: int, seed: int = 2026) -> list[DemoPerson]:
    """``count`` distinct people; the same seed gives the same people."""
    rng = random.Random(seed)  # noqa: S311 - demo data, not secrets
    people: dict[str, DemoPerson] = {}
    phones: set[str] = set()
    while len(people) < count:
        id_number = _id_number(rng)
        name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
        phone = rng.choice(("138", "139", "186", "150", "177")) + f"{rng.randrange(10**8):08d}"
        address = f"{CITIES[id_number[:2]]}{rng.choice(STREETS)}{rng.randrange(1, 999)}号"
        if id_number in people or phone in phones:
            continue
        phones.add(phone)
        people[id_number] = DemoPerson(name, phone, id_number, _card(rng), address)
    return list(people.values())
