"""Known-answer tests of both backends, for ``lendkit crypto selftest`` and the suite."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from lendkit.crypto import gm
from lendkit.crypto.sm3 import sm3
from lendkit.crypto.sm4 import BACKENDS, Backend

__all__ = ["DRAFT_SM2_CURVE", "Check", "run"]

# GB/T 32907-2016 Appendix A.1: one block, key = plaintext.
SM4_KEY = bytes.fromhex("0123456789abcdeffedcba9876543210")
SM4_BLOCK_CT = bytes.fromhex("681edf34d206965e86b3e94f536e4246")
# RFC 8998 Appendix A.1: SM4-GCM.
GCM_IV = bytes.fromhex("00001234567800000000abcd")
GCM_AAD = bytes.fromhex("feedfacedeadbeeffeedfacedeadbeefabaddad2")
GCM_PT = bytes.fromhex(
    "aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbccccccccccccccccdddddddddddddddd"
    "eeeeeeeeeeeeeeeeffffffffffffffffeeeeeeeeeeeeeeeeaaaaaaaaaaaaaaaa"
)
GCM_CT = bytes.fromhex(
    "17f399f08c67d5ee19d0dc9969c4bb7d5fd46fd3756489069157b282bb200735"
    "d82710ca5c22f0ccfa7cbf93d496ac15a56834cbcf98c397b4024a2691233b8d"
)
GCM_TAG = bytes.fromhex("83de3541e4c2b58177e065a9bf7b62ec")
# GB/T 32905-2016 Appendix A.1: SM3("abc").
SM3_ABC = bytes.fromhex("66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0")
# The SM2 signature example on the Fp-256 test curve (GM/T 0003.2 and
# draft-shen-sm2-ecdsa-02 Appendix A.2), with its fixed k.
DRAFT_SM2_CURVE = gm.Curve(
    p="8542D69E4C044F18E8B92435BF6FF7DE457283915C45517D722EDB8B08F1DFC3",
    a="787968B4FA32C3FD2417842E73BBFEFF2F3C848B6831D7E0EC65228B3937E498",
    b="63E4C6D3B23B0C849CF84241484BFE48F61D59A5B16BA06E6E12D1DA27C5249A",
    gx="421DEBD61B62EAB6746434EBC3CC315E32220B3BADD50BDC4C4E6C147FEDD43D",
    gy="0680512BCBB42C07D47349D2153B70C4E5D7FDFCBFA36EA1A85841B9E46E09A2",
    n="8542D69E4C044F18E8B92435BF6FF7DD297720630485628D5AE74EE7C32E79B7",
)
SM2_D = "128B2FA8BD433C6C068C8D803DFF79792A519A55171B1B650C23661D15897263"
SM2_K = "6CB28D99385C175C94F94E934817663FC176D925DD72B727260DBAAE1FB2F96F"
SM2_ID = b"ALICE123@YAHOO.COM"
SM2_MSG = b"message digest"
SM2_SIG = (
    "40F1EC59F793D9F49E09DCEF49130D4194F79FB1EED2CAA55BACDB49C4E755D1"
    "6FC6DAC32C5D5CF10C77DFB20F7C2EB667A457872FB09EC56327A67EC7DEEBE7"
)


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    passed: bool


def _cross_backend_roundtrip() -> bool:
    key, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    message, aad = secrets.token_bytes(37), b"table\0column\0row"
    a = BACKENDS["openssl"].encrypt(key, nonce, message, aad)
    b = BACKENDS["gmssl"].encrypt(key, nonce, message, aad)
    return a == b and BACKENDS["gmssl"].decrypt(key, nonce, a, aad) == message


def _sm2_vector() -> bool:
    signature = gm.sm2_sign(SM2_MSG, SM2_D, DRAFT_SM2_CURVE, SM2_ID, k=SM2_K)
    public = gm.sm2_public_key(SM2_D, DRAFT_SM2_CURVE)
    return signature.upper() == SM2_SIG and gm.sm2_verify(
        SM2_MSG, SM2_SIG, public, DRAFT_SM2_CURVE, SM2_ID
    )


def _sm2_fresh_keys() -> bool:
    private, public = gm.sm2_keypair()
    signature = gm.sm2_sign(b"checkpoint", private)
    return gm.sm2_verify(b"checkpoint", signature, public) and not gm.sm2_verify(
        b"checkpoinT", signature, public
    )


def _sm4_block(backend: Backend) -> bool:
    return backend.block(SM4_KEY, SM4_KEY) == SM4_BLOCK_CT


def _gcm_encrypt(backend: Backend) -> bool:
    return backend.encrypt(SM4_KEY, GCM_IV, GCM_PT, GCM_AAD) == GCM_CT + GCM_TAG


def _gcm_decrypt(backend: Backend) -> bool:
    return backend.decrypt(SM4_KEY, GCM_IV, GCM_CT + GCM_TAG, GCM_AAD) == GCM_PT


def _checks() -> list[tuple[str, Callable[[], bool]]]:
    checks: list[tuple[str, Callable[[], bool]]] = []
    for name, backend in BACKENDS.items():
        checks += [
            (f"SM4 block GB/T 32907 [{name}]", partial(_sm4_block, backend)),
            (f"SM4-GCM RFC 8998 encrypt [{name}]", partial(_gcm_encrypt, backend)),
            (f"SM4-GCM RFC 8998 decrypt [{name}]", partial(_gcm_decrypt, backend)),
        ]
    checks += [
        ("SM3 GB/T 32905 'abc' [openssl]", lambda: sm3(b"abc") == SM3_ABC),
        ("SM3 GB/T 32905 'abc' [gmssl]", lambda: gm.sm3_reference(b"abc") == SM3_ABC),
        ("SM4-GCM backends agree on random input", _cross_backend_roundtrip),
        ("SM2 signature standard example [gmssl]", _sm2_vector),
        ("SM2 sign/verify with fresh keys [gmssl]", _sm2_fresh_keys),
    ]
    return checks


def run() -> list[Check]:
    """Run every known-answer test; an exception counts as a failure."""
    results = []
    for name, check in _checks():
        try:
            passed = bool(check())
        except Exception:
            passed = False
        results.append(Check(name, passed))
    return results
