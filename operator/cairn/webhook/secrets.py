"""Webhook secrets and the operator key, read from mounted Secrets or the environment.

Webhook secrets live in one directory (a Kubernetes Secret mounted as a
volume): the file ``<key>`` holds the current secret of that key and
``<key>.previous`` the one being rotated out; both are accepted, so a secret
can be rolled over without dropping deliveries. A human types the webhook
secret into GitHub, so one trailing newline in the file is ignored.

The operator key is shared with the operator, which derives each sandbox's
callback secret from it; both read it alike: surrounding whitespace stripped,
at least 32 bytes.

Kubernetes updates mounted Secrets in place, so the receiver re-reads them
periodically (``SecretLoader.load``) and picks up a rotation without a restart.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cairn.k8s.settings import MIN_OPERATOR_KEY_BYTES, InvalidSettingError, load_operator_key
from cairn.webhook.config import DEFAULT_SECRET_NAME

PREVIOUS_SUFFIX = ".previous"
ENV_WEBHOOK_SECRET = "CAIRN_WEBHOOK_SECRET"
ENV_WEBHOOK_SECRET_PREVIOUS = "CAIRN_WEBHOOK_SECRET_PREVIOUS"
ENV_OPERATOR_KEY = "CAIRN_OPERATOR_KEY"


@dataclass(frozen=True)
class SecretSnapshot:
    """The secrets as loaded at one moment."""

    #: key name -> accepted values (current first, then the previous one)
    webhook: Mapping[str, tuple[bytes, ...]] = field(default_factory=dict)
    operator_key: bytes | None = None
    #: why some wanted secret is missing; empty when everything is loaded
    problems: tuple[str, ...] = ()

    def values_for(self, name: str) -> tuple[bytes, ...]:
        return self.webhook.get(name, ())


def _read_webhook_secret(path: Path) -> bytes | None:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    if raw.endswith(b"\r\n"):
        raw = raw[:-2]
    elif raw.endswith(b"\n"):
        raw = raw[:-1]
    return raw or None


class SecretLoader:
    """Loads a ``SecretSnapshot`` of the webhook secrets named in the configuration."""

    def __init__(
        self,
        names: tuple[str, ...],
        *,
        webhook_dir: Path | None = None,
        operator_key_file: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.names = names
        self.webhook_dir = webhook_dir
        self.operator_key_file = operator_key_file
        self.env = os.environ if env is None else env

    def load(self) -> SecretSnapshot:
        webhook: dict[str, tuple[bytes, ...]] = {}
        problems: list[str] = []
        for name in self.names:
            values = self._webhook_values(name, problems)
            if values:
                webhook[name] = values
            else:
                problems.append(f"webhook secret {name!r} has no value")
        key = self._operator_key(problems)
        return SecretSnapshot(webhook=webhook, operator_key=key, problems=tuple(problems))

    def _webhook_values(self, name: str, problems: list[str]) -> tuple[bytes, ...]:
        values: list[bytes] = []
        if self.webhook_dir is not None:
            for file_name in (name, name + PREVIOUS_SUFFIX):
                try:
                    value = _read_webhook_secret(self.webhook_dir / file_name)
                except OSError as exc:
                    problems.append(f"cannot read {self.webhook_dir / file_name}: {exc.strerror}")
                    continue
                if value is not None:
                    values.append(value)
        if name == DEFAULT_SECRET_NAME:
            for var in (ENV_WEBHOOK_SECRET, ENV_WEBHOOK_SECRET_PREVIOUS):
                if self.env.get(var):
                    values.append(self.env[var].encode())
        return tuple(dict.fromkeys(values))

    def _operator_key(self, problems: list[str]) -> bytes | None:
        # read exactly as the operator reads it, or the derived secrets would differ
        if self.operator_key_file is not None:
            try:
                return load_operator_key(self.operator_key_file)
            except InvalidSettingError as exc:
                problems.append(str(exc))
                return None
        if not self.env.get(ENV_OPERATOR_KEY):
            problems.append(f"no operator key (give --operator-key-file or ${ENV_OPERATOR_KEY})")
            return None
        key = self.env[ENV_OPERATOR_KEY].encode().strip()
        if len(key) < MIN_OPERATOR_KEY_BYTES:
            problems.append(
                f"the operator key in ${ENV_OPERATOR_KEY} is {len(key)} bytes;"
                f" at least {MIN_OPERATOR_KEY_BYTES} are required"
            )
            return None
        return key
