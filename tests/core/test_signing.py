"""Signing: the published test vector, constant-time verification, no secret in repr."""

from __future__ import annotations

import hmac

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calypso_async import ConfigurationError, sign, verify_signature
from calypso_async._core.signing import Signer
from tests.conftest import API_KEY, SECRET_KEY

VECTOR_BODY = '{"timestamp":1}'
VECTOR_SIGN = (
    "b16e9d45f49f2069becbc4f108b237bee588cfc353fe9501df103e692acbc68d"
    "482a10d34c12bea22fedde7e28e1b8e57a6a0a373b0e9a27c5257bd8b36e13b9"
)


def test_sign_matches_the_published_test_vector() -> None:
    """The published body and secret give the published signature."""
    assert sign(VECTOR_BODY, SECRET_KEY) == VECTOR_SIGN


def test_sign_gives_the_same_answer_for_str_and_bytes() -> None:
    """A str body is signed as its UTF-8 bytes."""
    assert sign(VECTOR_BODY.encode(), SECRET_KEY) == VECTOR_SIGN
    assert sign("описание €", SECRET_KEY) == sign("описание €".encode(), SECRET_KEY)


def test_sign_is_lowercase_hex_of_sha512_length() -> None:
    """The signature is 128 lowercase hex digits."""
    signature = sign(b"{}", SECRET_KEY)
    assert len(signature) == 128
    assert signature == signature.lower()
    int(signature, 16)


def test_sign_depends_on_the_key_and_on_every_byte() -> None:
    """Another key or one more space gives another signature."""
    assert sign(VECTOR_BODY, API_KEY) != VECTOR_SIGN
    assert sign('{"timestamp": 1}', SECRET_KEY) != VECTOR_SIGN


def test_verify_signature_accepts_the_published_vector() -> None:
    """verify_signature agrees with the published vector, for str and bytes bodies."""
    assert verify_signature(VECTOR_BODY, VECTOR_SIGN, SECRET_KEY) is True
    assert verify_signature(VECTOR_BODY.encode(), VECTOR_SIGN, SECRET_KEY) is True


def test_verify_signature_accepts_uppercase_hex_and_surrounding_spaces() -> None:
    """Hex is compared case-insensitively; header padding is ignored."""
    assert verify_signature(VECTOR_BODY, VECTOR_SIGN.upper(), SECRET_KEY) is True
    assert verify_signature(VECTOR_BODY, f" {VECTOR_SIGN} ", SECRET_KEY) is True


@pytest.mark.parametrize(
    ("body", "signature", "secret"),
    [
        pytest.param(VECTOR_BODY, VECTOR_SIGN[:-1] + "a", SECRET_KEY, id="one-digit-off"),
        pytest.param(VECTOR_BODY, VECTOR_SIGN[:64], SECRET_KEY, id="truncated"),
        pytest.param('{"timestamp":2}', VECTOR_SIGN, SECRET_KEY, id="other-body"),
        pytest.param(VECTOR_BODY, VECTOR_SIGN, API_KEY, id="other-key"),
        pytest.param(VECTOR_BODY, None, SECRET_KEY, id="missing"),
        pytest.param(VECTOR_BODY, "", SECRET_KEY, id="empty"),
        pytest.param(VECTOR_BODY, "é" + VECTOR_SIGN[1:], SECRET_KEY, id="non-ascii"),
        pytest.param(VECTOR_BODY, "ü" * 128, SECRET_KEY, id="all-non-ascii"),
    ],
)
def test_verify_signature_rejects_anything_but_the_right_signature(
    body: str, signature: str | None, secret: str
) -> None:
    """A wrong, missing, empty or non-ASCII signature is False, never an exception."""
    assert verify_signature(body, signature, secret) is False


def test_verify_signature_compares_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison goes through hmac.compare_digest, never ==."""
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert verify_signature(VECTOR_BODY, VECTOR_SIGN.upper(), SECRET_KEY) is True
    assert verify_signature(VECTOR_BODY, "0" * 128, SECRET_KEY) is False
    assert len(calls) == 2
    assert calls[0] == (VECTOR_SIGN.encode(), VECTOR_SIGN.encode())


def test_signer_signs_like_sign_for_every_body() -> None:
    """A reused Signer gives what sign() gives, body after body (no state leaks)."""
    signer = Signer(SECRET_KEY)
    assert signer.sign(VECTOR_BODY.encode()) == VECTOR_SIGN
    for body in (b"", b"{}", b'{"timestamp":2}', VECTOR_BODY.encode()):
        assert signer.sign(body) == sign(body, SECRET_KEY)


def test_signer_repr_hides_the_secret() -> None:
    """Neither repr nor str of a Signer shows the key."""
    signer = Signer(SECRET_KEY)
    assert SECRET_KEY not in repr(signer)
    assert SECRET_KEY not in str(signer)
    assert "***" in repr(signer)


@settings(max_examples=50, deadline=None)
@given(body=st.binary(max_size=256), secret=st.text(min_size=1, max_size=40))
def test_any_body_verifies_against_its_own_signature(body: bytes, secret: str) -> None:
    """sign and verify_signature agree for arbitrary bytes and keys; one flipped bit fails."""
    signature = sign(body, secret)
    assert verify_signature(body, signature, secret) is True
    flipped = body + b"\x00" if not body else bytes([body[0] ^ 1]) + body[1:]
    assert verify_signature(flipped, signature, secret) is False


def test_an_empty_key_never_signs_nor_verifies() -> None:
    """Anyone can compute an HMAC with an empty key: such a key signs and verifies nothing."""
    body = b'{"timestamp":1}'
    forged = hmac.new(b"", body, "sha512").hexdigest()
    assert verify_signature(body, forged, "") is False
    with pytest.raises(ConfigurationError):
        sign(body, "")
