from __future__ import annotations

import base64
import json

from cairn.runner.masking import SecretMasker


def test_masks_every_occurrence_longest_first() -> None:
    masker = SecretMasker()
    masker.add("abc")
    masker.add("abcdef")
    assert masker.mask("x abcdef y abc") == "x *** y ***"


def test_multiline_secret_is_masked_line_by_line() -> None:
    masker = SecretMasker()
    masker.add("-----BEGIN KEY-----\nMIIBOgIBAAJBAK\n-----END KEY-----\n")
    assert masker.mask("MIIBOgIBAAJBAK") == "***"
    assert masker.mask("-----END KEY-----") == "***"


def test_empty_and_blank_values_are_ignored() -> None:
    masker = SecretMasker()
    masker.add("")
    masker.add("   ")
    assert masker.mask("some text") == "some text"
    assert not masker.contains_secret("some text")


def test_encoded_forms_are_masked() -> None:
    masker = SecretMasker()
    secret = 'p@ss "word"/x'
    masker.add(secret)
    encoded = base64.b64encode(secret.encode()).decode().rstrip("=")
    assert masker.mask(f"b64={encoded}") == "b64=***"
    assert masker.mask(json.dumps({"k": secret})) == '{"k": "***"}'
    assert masker.mask("p%40ss%20%22word%22%2Fx") == "***"
    assert masker.contains_secret(f"..{secret}..")
