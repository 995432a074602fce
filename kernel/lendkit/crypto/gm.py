"""A small, safe face on ``gmssl`` (pure Python): SM4 block, SM3, SM2 signatures.

gmssl's known flaws and how this wrapper keeps them out:

* keys and nonces from ``random`` — we never let gmssl choose randomness:
  SM2 private keys and signature nonces come from :mod:`secrets`;
* unchecked PKCS#7 unpadding — we use only its raw block function (GCM and
  CBC modes are built here, with no padding);
* SM2 decrypt never compares C3 — we do not expose SM2 encryption at all;
* no point-on-curve check — public keys are checked before use, and
  signatures' ``r`` and ``s`` are range-checked before verifying;
* ``sm3_hash`` mutates its argument — we pass it a fresh list every time;
* ``CryptSM2`` strips a "04" prefix with ``lstrip("04")``, which also eats
  leading 0 and 4 digits of x (about one key in 256) — we set the key after
  construction, never through it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from gmssl import sm2
from gmssl import sm3 as gmssl_sm3
from gmssl.sm4 import SM4_ENCRYPT, CryptSM4

from lendkit.crypto.sm3 import sm3

__all__ = [
    "SM2_CURVE",
    "Curve",
    "sm2_keypair",
    "sm2_public_key",
    "sm2_sign",
    "sm2_verify",
    "sm3_reference",
    "sm4_block_encrypt",
]


def sm4_block_encrypt(key: bytes, block: bytes) -> bytes:
    """Encrypt one 16-byte block with SM4 (the GB/T 32907 block function)."""
    if len(key) != 16 or len(block) != 16:
        raise ValueError("SM4 takes a 16-byte key and 16-byte blocks")
    cipher = CryptSM4(SM4_ENCRYPT)
    cipher.set_key(key, SM4_ENCRYPT)
    return bytes(cipher.one_round(cipher.sk, list(block)))


def sm3_reference(data: bytes) -> bytes:
    """gmssl's SM3, the reference :func:`lendkit.crypto.sm3.sm3` is checked against
    (a fresh list each call: gmssl's ``sm3_hash`` mutates its input)."""
    return bytes.fromhex(gmssl_sm3.sm3_hash(list(data)))


@dataclass(frozen=True, slots=True)
class Curve:
    """Parameters of a prime-field curve y² = x³ + ax + b (hex, 64 digits each)."""

    p: str
    a: str
    b: str
    gx: str
    gy: str
    n: str

    def table(self) -> dict[str, str]:
        return {"n": self.n, "p": self.p, "g": self.gx + self.gy, "a": self.a, "b": self.b}

    def on_curve(self, public_key: str) -> bool:
        if len(public_key) != 128:
            return False
        p, x, y = int(self.p, 16), int(public_key[:64], 16), int(public_key[64:], 16)
        if not (0 <= x < p and 0 <= y < p):
            return False
        return (y * y - (x**3 + int(self.a, 16) * x + int(self.b, 16))) % p == 0


# GB/T 32918.5 recommended curve (sm2p256v1).
SM2_CURVE = Curve(
    p="FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF",
    a="FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC",
    b="28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93",
    gx="32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7",
    gy="BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0",
    n="FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123",
)

DEFAULT_ID = b"1234567812345678"


def _client(private_key: str, public_key: str, curve: Curve) -> sm2.CryptSM2:
    client = sm2.CryptSM2(private_key=private_key, public_key="", ecc_table=curve.table())
    client.public_key = public_key
    return client


def sm2_public_key(private_key: str, curve: Curve = SM2_CURVE) -> str:
    """The public key (x‖y, hex) of ``private_key`` (hex)."""
    point: str = _client(private_key, "", curve)._kg(int(private_key, 16), curve.table()["g"])
    return point


def sm2_keypair(curve: Curve = SM2_CURVE) -> tuple[str, str]:
    """A fresh key pair from :mod:`secrets`: (private hex, public x‖y hex)."""
    n = int(curve.n, 16)
    private_key = f"{secrets.randbelow(n - 2) + 1:064x}"
    return private_key, sm2_public_key(private_key, curve)


def _digest(message: bytes, public_key: str, curve: Curve, user_id: bytes) -> bytes:
    """e = SM3(Z_A ‖ M), Z_A = SM3(ENTL ‖ ID ‖ a ‖ b ‖ xG ‖ yG ‖ xA ‖ yA)."""
    entl = (len(user_id) * 8).to_bytes(2, "big")
    z = sm3(entl + user_id + bytes.fromhex(curve.a + curve.b + curve.gx + curve.gy + public_key))
    return sm3(z + message)


def sm2_sign(
    message: bytes,
    private_key: str,
    curve: Curve = SM2_CURVE,
    user_id: bytes = DEFAULT_ID,
    k: str | None = None,
) -> str:
    """SM2 signature r‖s (hex) over ``message``; ``k`` only for standard vectors."""
    public_key = sm2_public_key(private_key, curve)
    e = _digest(message, public_key, curve, user_id)
    client = _client(private_key, public_key, curve)
    n = int(curve.n, 16)
    while True:
        nonce = k or f"{secrets.randbelow(n - 1) + 1:064x}"
        signature: str | None = client.sign(e, nonce)
        if signature is not None:
            return signature
        if k is not None:
            raise ValueError("the given k yields no signature")


def sm2_verify(
    message: bytes,
    signature: str,
    public_key: str,
    curve: Curve = SM2_CURVE,
    user_id: bytes = DEFAULT_ID,
) -> bool:
    """Check an SM2 signature; malformed keys or signatures are simply invalid."""
    if not curve.on_curve(public_key) or len(signature) != 128:
        return False
    n = int(curve.n, 16)
    r, s = int(signature[:64], 16), int(signature[64:], 16)
    if not (1 <= r < n and 1 <= s < n):
        return False
    e = _digest(message, public_key, curve, user_id)
    return bool(_client("", public_key, curve).verify(signature, e))
