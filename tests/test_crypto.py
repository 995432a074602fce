"""SM4 field encryption: two backends, one format; values bound to their row; keys."""

from __future__ import annotations

import secrets

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lendkit.crypto import gm, selftest
from lendkit.crypto.fields import context, key_id_of, open_value, seal_value
from lendkit.crypto.keys import load_master_key
from lendkit.crypto.orm import lookup
from lendkit.crypto.sm3 import sm3, sm3_hex
from lendkit.crypto.sm4 import GMSSL, OPENSSL, DecryptionError
from lendkit.errors import StartupError
from lendkit.models import Borrower
from lendkit.settings import Settings
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError


@given(st.binary(max_size=300))
@settings(max_examples=50, deadline=None)
def test_sm3_agrees_with_the_gmssl_reference(data):
    assert sm3(data) == gm.sm3_reference(data)
    assert sm3_hex(data) == gm.sm3_reference(data).hex()


def test_every_known_answer_test_passes():
    failed = [c.name for c in selftest.run() if not c.passed]
    assert failed == []


@pytest.mark.parametrize("cipher", [OPENSSL, GMSSL], ids=lambda b: b.name)
def test_gbt_32907_block_vector(cipher):
    assert (
        cipher.block(selftest.SM4_KEY, selftest.SM4_KEY).hex() == "681edf34d206965e86b3e94f536e4246"
    )


@settings(max_examples=60, deadline=None)
@given(
    key=st.binary(min_size=16, max_size=16),
    nonce=st.binary(min_size=12, max_size=12),
    plaintext=st.binary(max_size=200),
    aad=st.binary(max_size=64),
)
def test_backends_produce_and_accept_the_same_bytes(key, nonce, plaintext, aad):
    fast = OPENSSL.encrypt(key, nonce, plaintext, aad)
    reference = GMSSL.encrypt(key, nonce, plaintext, aad)
    assert fast == reference
    assert GMSSL.decrypt(key, nonce, fast, aad) == plaintext
    assert OPENSSL.decrypt(key, nonce, reference, aad) == plaintext


@settings(max_examples=40, deadline=None)
@given(value=st.text(max_size=80), key_id=st.integers(min_value=1, max_value=2**32 - 1))
def test_a_sealed_field_opens_on_either_backend(value, key_id):
    key, ctx = secrets.token_bytes(16), context("borrower", "name", secrets.token_bytes(16))
    sealed = seal_value(OPENSSL, key_id, key, value.encode(), ctx)
    assert key_id_of(sealed) == key_id
    assert open_value(GMSSL, key, sealed, ctx).decode() == value


def _sealed():
    key, ctx = secrets.token_bytes(16), context("borrower", "phone", b"r" * 16)
    return key, ctx, seal_value(OPENSSL, 7, key, b"13812345678", ctx)


def test_the_wrong_key_fails():
    _, ctx, sealed = _sealed()
    with pytest.raises(DecryptionError):
        open_value(OPENSSL, secrets.token_bytes(16), sealed, ctx)


def test_another_row_column_or_table_fails():
    key, _, sealed = _sealed()
    for other in (
        context("borrower", "phone", b"s" * 16),
        context("borrower", "name", b"r" * 16),
        context("staff_user", "phone", b"r" * 16),
    ):
        with pytest.raises(DecryptionError):
            open_value(OPENSSL, key, sealed, other)


@pytest.mark.parametrize("position", [0, 3, 10, 25, -1])
def test_any_altered_byte_fails(position):
    key, ctx, sealed = _sealed()
    altered = bytearray(sealed)
    altered[position] ^= 0x01
    with pytest.raises(DecryptionError):
        open_value(OPENSSL, key, bytes(altered), ctx)


def test_public_keys_starting_with_04_verify():
    # gmssl's lstrip("04") used to mangle such keys: one audit key in 256 failed.
    private = f"{11:064x}"
    public = gm.sm2_public_key(private)
    assert public.startswith("04")
    assert gm.sm2_verify(b"m", gm.sm2_sign(b"m", private), public)


def test_gmssl_wrapper_refuses_what_gmssl_would_accept():
    private, public = gm.sm2_keypair()
    signature = gm.sm2_sign(b"m", private)
    n = int(gm.SM2_CURVE.n, 16)
    assert gm.sm2_verify(b"m", signature, public)
    off_curve = public[:-1] + ("0" if public[-1] != "0" else "1")
    assert not gm.sm2_verify(b"m", signature, off_curve)
    assert not gm.sm2_verify(b"m", f"{0:064x}" + signature[64:], public)
    assert not gm.sm2_verify(b"m", f"{n:064x}" + signature[64:], public)
    data = b"abc"
    assert gm.sm3_reference(data) == gm.sm3_reference(data) == selftest.SM3_ABC


def test_sm2_keys_are_fresh_each_time():
    assert len({gm.sm2_keypair()[0] for _ in range(5)}) == 5


# -- encrypted ORM columns, on both databases ------------------------------


def test_personal_data_round_trips_and_is_ciphertext_in_the_table(runtime):
    with runtime.sessions.begin() as session:
        session.add(Borrower(phone="13812345678", name="张三", id_number="110101199003071235"))
    with runtime.sessions() as session:
        borrower = session.scalars(select(Borrower)).one()
        assert (borrower.name, borrower.phone) == ("张三", "13812345678")
        raw = session.execute(select(Borrower.__table__.c.phone, Borrower.__table__.c.name)).one()
    assert b"13812345678" not in bytes(raw.phone)
    assert "张三".encode() not in bytes(raw.name)
    assert bytes(raw.phone)[0] == 1  # format version


def test_a_ciphertext_copied_to_another_row_does_not_open(runtime):
    with runtime.sessions.begin() as session:
        session.add_all(
            [Borrower(phone="13812345678", name="张三"), Borrower(phone="13900001111", name="李四")]
        )
    table = Borrower.__table__
    with runtime.sessions.begin() as session:
        first = session.execute(select(table.c.name).where(table.c.id == 1)).scalar_one()
        session.execute(update(table).where(table.c.id == 2).values(name=first))
    with runtime.sessions() as session, pytest.raises(DecryptionError):
        session.get(Borrower, 2)


def test_blind_index_finds_a_borrower_by_any_spelling_of_the_phone(runtime):
    with runtime.sessions.begin() as session:
        session.add(Borrower(phone="13812345678"))
    with runtime.sessions() as session:
        for spelling in ("13812345678", "+86 138 1234 5678", "138-1234-5678"):
            found = session.scalars(
                select(Borrower).where(Borrower.phone_index == lookup(session, "phone", spelling))
            )
            assert found.one().phone == "13812345678"


def test_one_borrower_per_id_number(runtime):
    with runtime.sessions.begin() as session:
        session.add(Borrower(phone="13812345678", id_number="110101199003071235"))
    with pytest.raises(IntegrityError), runtime.sessions.begin() as session:
        session.add(Borrower(phone="13900001111", id_number="110101199003071235"))


def test_plain_text_written_around_the_orm_is_refused(runtime):
    with pytest.raises(Exception, match="plain text refused"), runtime.sessions.begin() as session:
        session.execute(
            insert(Borrower).values(phone="13812345678", phone_index=b"x" * 32, row_key=b"k" * 16)
        )


def test_updating_a_field_reseals_it_and_keeps_others(runtime):
    with runtime.sessions.begin() as session:
        session.add(Borrower(phone="13812345678", name="张三"))
    with runtime.sessions.begin() as session:
        session.get(Borrower, 1).name = "张三丰"
    with runtime.sessions() as session:
        borrower = session.get(Borrower, 1)
        assert (borrower.name, borrower.phone) == ("张三丰", "13812345678")


# -- master key ------------------------------------------------------------


def test_missing_master_key_file_is_one_clear_error(tmp_path):
    settings = Settings(root=tmp_path)
    with pytest.raises(StartupError, match="does not exist; create it with `lendkit keys init`"):
        load_master_key(settings)


def test_master_key_from_an_environment_variable(tmp_path, monkeypatch):
    settings = Settings(root=tmp_path, keys={"master_key_env": "TEST_MASTER"})
    monkeypatch.setenv("TEST_MASTER", "zz")
    with pytest.raises(StartupError, match="expected 32 hex digits"):
        load_master_key(settings)
    monkeypatch.setenv("TEST_MASTER", "00" * 16)
    assert load_master_key(settings).key == bytes(16)


def test_crypto_cli_selftest_and_demo(lendkit_cli):
    selftest_run = lendkit_cli("crypto", "selftest")
    assert selftest_run.returncode == 0, selftest_run.stdout
    assert "FAIL" not in selftest_run.stdout
    demo = lendkit_cli("crypto", "demo", "--value", "13812345678")
    assert demo.returncode == 0
    lines = dict(
        line.split(None, 1)
        for line in demo.stdout.splitlines()
        if line and not line.startswith(" ")
    )
    assert "13812345678" not in lines["stored"]
    assert "refused" in demo.stdout
    assert demo.stdout.rstrip().endswith("13812345678")
