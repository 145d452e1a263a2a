"""Secret masking: every value registered here is replaced by ``***`` in
everything the runner logs.

Like GitHub's runner, a multi-line secret is also registered line by line
(logs are masked one line at a time), and a few encodings a secret commonly
appears in are masked too: JSON-escaped, URL-encoded and base64.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.parse

MASK = "***"


def _variants(value: str) -> set[str]:
    out = {value}
    out.add(json.dumps(value)[1:-1])
    out.add(urllib.parse.quote(value, safe=""))
    # base64 of the value; the trailing padding differs with what follows the
    # value in a longer encoded string, so it is dropped
    out.add(base64.b64encode(value.encode()).decode().rstrip("="))
    return {v for v in out if v.strip()}


class SecretMasker:
    def __init__(self) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: str) -> None:
        """Register a secret. Empty and whitespace-only values are ignored:
        masking them would blank out the whole log."""
        if not value or not value.strip():
            return
        new = _variants(value)
        if "\n" in value or "\r" in value:
            for line in re.split(r"\r?\n|\r", value):
                if line.strip():
                    new |= _variants(line)
        if not new <= self._values:
            self._values |= new
            self._pattern = None

    def __contains__(self, text: object) -> bool:
        return isinstance(text, str) and self.contains_secret(text)

    def contains_secret(self, text: str) -> bool:
        pattern = self._compiled()
        return pattern is not None and pattern.search(text) is not None

    def mask(self, text: str) -> str:
        pattern = self._compiled()
        if pattern is None or not text:
            return text
        return pattern.sub(MASK, text)

    def _compiled(self) -> re.Pattern[str] | None:
        if self._pattern is None and self._values:
            # longest first, so a secret containing another is masked whole
            ordered = sorted(self._values, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(v) for v in ordered))
        return self._pattern
