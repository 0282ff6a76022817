"""Error answers read as a caller acts on them: Calypso's published codes."""

from __future__ import annotations

import pytest

from calypso_async import APIError, BadRequestError, ErrorCode
from calypso_async._core.answers import api_error


def answer(status: int, code: str | None, message: str = "refused") -> APIError:
    body = (
        b"{}"
        if code is None
        else b'{"errorCode": "%s", "message": "%s", "traceId": "t-1"}'
        % (
            code.encode(),
            message.encode(),
        )
    )
    return api_error("/api/v1/invoice/return-to-paid", status, body, {}, 0.0)


@pytest.mark.parametrize("member", list(ErrorCode))
def test_every_published_code_reads_as_its_member(member: ErrorCode) -> None:
    """A caller branches on error.code; error_code keeps the code as sent."""
    error = answer(400, member.value)
    assert error.code is member
    assert error.error_code == member.value


def test_an_invoice_in_the_wrong_state_is_branchable_without_string_matching() -> None:
    error = answer(400, "006", "Invoice state is not PENDING_INTERVENTION")
    assert isinstance(error, BadRequestError)
    assert error.code is ErrorCode.WRONG_INVOICE_STATE
    assert error.trace_id == "t-1"


@pytest.mark.parametrize("code", ["999", "INVOICE_NOT_FOUND", None])
def test_an_unpublished_or_missing_code_is_none_and_kept_as_sent(code: str | None) -> None:
    """A new code never crashes a caller; it stays readable on error_code."""
    error = answer(400, code)
    assert error.code is None
    assert error.error_code == code


def test_the_published_timestamp_code_says_to_check_the_clock_whatever_the_message() -> None:
    """011 is a refused timestamp even when the message does not say 'timestamp'."""
    error = answer(400, "011", "invalid nonce")
    assert "check the system clock" in str(error)
