"""Reading request bodies without ever holding more than a limit, and decoding
GitHub's two content types."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web

from cairn.webhook.errors import BodyTooLarge, InvalidPayload, RequestRejected

#: a body that trickles in slower than this is dropped, so no client can hold a handler
BODY_TIMEOUT_SECONDS = 30.0


async def read_bounded(
    request: web.Request, limit: int, *, timeout: float = BODY_TIMEOUT_SECONDS
) -> bytes:
    """The whole body, or ``BodyTooLarge`` as soon as it passes ``limit``.

    A declared Content-Length over the limit is refused before reading; a
    chunked body is refused at the first chunk that crosses it. aiohttp then
    drains (discards) the rest, so the client still receives the 413. A body
    still incomplete after ``timeout`` seconds is a 408.
    """
    declared = request.content_length
    if declared is not None and declared > limit:
        raise BodyTooLarge(limit)
    body = bytearray()
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.content.iter_any():
                if len(body) + len(chunk) > limit:
                    raise BodyTooLarge(limit)
                body += chunk
    except TimeoutError:
        raise RequestRejected(
            408, f"the request body did not arrive within {timeout:g} s", "bad_request"
        ) from None
    return bytes(body)


def decode_github_payload(content_type: str, body: bytes) -> tuple[dict[str, Any], int]:
    """The delivery's JSON object and the size of its JSON text.

    ``application/json`` carries the JSON as the body; ``application/
    x-www-form-urlencoded`` carries it in the ``payload`` form field.
    """
    if content_type == "application/json":
        text: bytes | str = body
    elif content_type == "application/x-www-form-urlencoded":
        text = _form_payload(body)
    else:
        raise RequestRejected(
            415,
            f"unsupported Content-Type {content_type or '(none)'!r}: GitHub webhooks send"
            " application/json or application/x-www-form-urlencoded",
            "bad_request",
        )
    try:
        payload = json.loads(text)
    except UnicodeDecodeError as exc:
        raise InvalidPayload(f"the payload is not UTF-8: {exc.reason}") from None
    except json.JSONDecodeError as exc:
        raise InvalidPayload(
            f"the payload is not valid JSON: {exc.msg} (line {exc.lineno} column {exc.colno})"
        ) from None
    if not isinstance(payload, dict):
        raise InvalidPayload(f"the payload must be a JSON object, not {type(payload).__name__}")
    return payload, len(text)


def _form_payload(body: bytes) -> str:
    try:
        form = parse_qs(body.decode("ascii"), strict_parsing=True, max_num_fields=16)
    except UnicodeDecodeError:
        raise InvalidPayload("a form-encoded body must be ASCII (percent-encoded)") from None
    except ValueError as exc:
        raise InvalidPayload(f"the form-encoded body is malformed: {exc}") from None
    values = form.get("payload")
    if not values:
        raise InvalidPayload("the form-encoded body has no 'payload' field")
    if len(values) > 1:
        raise InvalidPayload("the form-encoded body has more than one 'payload' field")
    return values[0]
