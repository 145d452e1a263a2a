"""X-Hub-Signature-256 and delivery-derived run names."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from cairn.webhook.names import is_plausible_delivery_id, run_name_for_delivery
from cairn.webhook.signature import matching_secret_names, sign, signature_digest


def test_githubs_documented_example() -> None:
    # docs.github.com, "Validating webhook deliveries": test values
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert sign(b"It's a Secret to Everybody", b"Hello, World!") == expected


def test_the_header_parses_to_its_digest() -> None:
    header = sign(b"s", b"body")
    digest = signature_digest(header)
    assert digest is not None and len(digest) == 32
    assert signature_digest(header.upper().replace("SHA256=", "sha256=")) == digest
    for bad in (None, "", "sha256=", "sha256=abc", "sha1=" + "a" * 40, "sha256:" + "a" * 64):
        assert signature_digest(bad) is None


def test_every_secret_and_rotated_value_is_tried() -> None:
    secrets = {"default": (b"new", b"old"), "team-b": (b"b",), "shared": (b"old",)}
    body = b'{"zen": "Design for failure."}'

    def names(secret: bytes) -> frozenset[str]:
        digest = signature_digest(sign(secret, body))
        assert digest is not None
        return matching_secret_names(secrets, body, digest)

    assert names(b"new") == {"default"}
    assert names(b"old") == {"default", "shared"}
    assert names(b"b") == {"team-b"}
    assert names(b"unknown") == frozenset()


_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def test_github_guids_name_runs_readably() -> None:
    guid = "72D3162E-CC78-11E3-81AB-4C9367DC0958"
    assert run_name_for_delivery(guid) == "gh-72d3162e-cc78-11e3-81ab-4c9367dc0958"


@settings(max_examples=60, deadline=None)
@given(st.from_regex(r"[A-Za-z0-9._:-]{1,128}", fullmatch=True))
def test_any_plausible_delivery_id_gives_a_stable_dns_label(delivery: str) -> None:
    assert is_plausible_delivery_id(delivery)
    name = run_name_for_delivery(delivery)
    assert _DNS_LABEL.match(name), name
    assert run_name_for_delivery(delivery) == name


def test_distinct_non_guid_ids_give_distinct_names() -> None:
    ids = [f"delivery-{i}" for i in range(1000)] + ["A", "a"]
    assert len({run_name_for_delivery(i) for i in ids}) == len(ids)


def test_implausible_delivery_ids_are_refused() -> None:
    for bad in ("", "a" * 129, "has space", "semi;colon", "ünï"):
        assert not is_plausible_delivery_id(bad)
