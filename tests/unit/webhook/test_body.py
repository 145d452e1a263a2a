"""Bounded body reading and GitHub's two content types, below the HTTP layer."""

from __future__ import annotations

import asyncio
import json
from unittest import mock
from urllib.parse import quote

import pytest
from aiohttp import streams
from aiohttp.test_utils import make_mocked_request

from cairn.webhook.body import decode_github_payload, read_bounded
from cairn.webhook.errors import BodyTooLarge, InvalidPayload, RequestRejected


def request_with_stream(
    headers: dict[str, str] | None = None,
) -> tuple[object, streams.StreamReader]:
    protocol = mock.Mock(_reading_paused=False)
    stream = streams.StreamReader(protocol, limit=2**16, loop=asyncio.get_running_loop())
    request = make_mocked_request("POST", "/github", headers=headers or {}, payload=stream)
    return request, stream


async def test_stops_at_the_limit_without_waiting_for_the_rest() -> None:
    # the body never ends: reading it all would hang; the reader must give up at the limit
    request, stream = request_with_stream()
    stream.feed_data(b"a" * 3000)
    stream.feed_data(b"b" * 3000)
    with pytest.raises(BodyTooLarge) as caught:
        await asyncio.wait_for(read_bounded(request, 4096), timeout=5)  # type: ignore[arg-type]
    assert caught.value.status == 413 and caught.value.limit == 4096


async def test_a_body_that_never_completes_times_out() -> None:
    request, stream = request_with_stream()
    stream.feed_data(b"{")
    with pytest.raises(RequestRejected) as caught:
        await asyncio.wait_for(read_bounded(request, 4096, timeout=0.05), timeout=5)  # type: ignore[arg-type]
    assert caught.value.status == 408
    assert "did not arrive within 0.05 s" in str(caught.value)


async def test_refuses_a_declared_length_over_the_limit_before_reading() -> None:
    request, stream = request_with_stream({"Content-Length": "999999"})
    with pytest.raises(BodyTooLarge):
        await read_bounded(request, 1000)  # type: ignore[arg-type]
    assert stream.total_bytes == 0


async def test_reads_a_body_at_exactly_the_limit() -> None:
    request, stream = request_with_stream()
    stream.feed_data(b"x" * 1000)
    stream.feed_eof()
    assert await read_bounded(request, 1000) == b"x" * 1000  # type: ignore[arg-type]


def test_json_and_form_encodings_decode_to_the_same_payload() -> None:
    payload = {"ref": "refs/heads/main", "message": "ünïcode & spaces = fine"}
    text = json.dumps(payload)
    as_json, size = decode_github_payload("application/json", text.encode())
    form = ("payload=" + quote(text)).encode()
    as_form, form_size = decode_github_payload("application/x-www-form-urlencoded", form)
    assert as_json == as_form == payload
    assert size == len(text.encode()) and form_size == len(text)


@pytest.mark.parametrize(
    ("content_type", "body", "message"),
    [
        ("application/json", b"", "not valid JSON"),
        ("application/json", b'"just a string"', "not str"),
        ("application/x-www-form-urlencoded", b"\xff", "must be ASCII"),
        ("application/x-www-form-urlencoded", b"payload", "malformed"),
    ],
)
def test_bad_bodies_explain_themselves(content_type: str, body: bytes, message: str) -> None:
    with pytest.raises(InvalidPayload, match=message):
        decode_github_payload(content_type, body)


def test_other_content_types_are_unsupported_media() -> None:
    with pytest.raises(RequestRejected) as caught:
        decode_github_payload("multipart/form-data", b"--x")
    assert caught.value.status == 415
