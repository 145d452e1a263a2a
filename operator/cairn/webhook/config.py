"""The receiver's configuration: which repositories may start runs, and where.

It is data, not code: a YAML (or JSON) file, usually a mounted ConfigMap, or
``--repository`` flags for small setups. Example::

    repositories:
      - name: octo-org/hello-world       # owner/name, or owner/* for a whole owner
        namespace: ci-hello              # where its CIRuns land
        webhookSecret: hello             # key of the webhook Secret (default: "default")
        runSecrets: hello-ci-secrets     # optional: the CIRun's spec.secrets
        pullRequestTypes: [opened, synchronize, reopened, labeled]
    pullRequestTypes: [opened, synchronize, reopened]   # the default for every repository
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from cairn.webhook.errors import ConfigError

#: GitHub's own cap on a webhook payload ("25 MB"); read as MiB, the more permissive reading.
GITHUB_MAX_PAYLOAD_BYTES = 25 * 1024 * 1024
#: the event payload is stored in the CIRun's spec; etcd refuses objects over 1.5 MiB
DEFAULT_MAX_EVENT_BYTES = 1024 * 1024
#: GitHub Actions' default ``pull_request`` activity types
DEFAULT_PULL_REQUEST_TYPES = ("opened", "synchronize", "reopened")
#: ``pullRequestTypes: ["*"]`` forwards every action; the operator's trigger filter decides
ALL_TYPES = "*"
DEFAULT_SECRET_NAME = "default"

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
# GitHub owner and repository names: letters, digits, '-', '_', '.'
_REPO_PART = r"[A-Za-z0-9_.-]{1,100}"
_REPO_PATTERN = re.compile(rf"^{_REPO_PART}/({_REPO_PART}|\*)$")
_SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]{1,253}$")
_PR_TYPE = re.compile(r"^([a-z_]{1,64}|\*)$")


class _Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class RepositoryRule(_Config):
    """One repository (or ``owner/*``) allowed to start runs."""

    name: str
    namespace: str
    webhook_secret: str = Field(default=DEFAULT_SECRET_NAME, alias="webhookSecret")
    run_secrets: str | None = Field(default=None, alias="runSecrets")
    pull_request_types: tuple[str, ...] | None = Field(default=None, alias="pullRequestTypes")
    #: clone from here instead of the payload's ``clone_url`` (a mirror; ``{full_name}``
    #: is replaced by the repository's ``owner/name``)
    clone_url: str | None = Field(default=None, alias="cloneUrl")
    #: where the workflow files are in the repository
    workflows_path: str = Field(default=".github/workflows", alias="workflowsPath")

    @field_validator("name")
    @classmethod
    def _repository_name(cls, value: str) -> str:
        if not _REPO_PATTERN.match(value):
            raise ValueError(
                f"{value!r} is not a repository name of the form owner/name or owner/*"
            )
        return value

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        if not _DNS_LABEL.match(value):
            raise ValueError(f"{value!r} is not a valid namespace name (a DNS label)")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _secret_key(cls, value: str) -> str:
        if not _SECRET_KEY.match(value) or value.endswith(".previous"):
            raise ValueError(
                f"{value!r} is not a valid Secret key (letters, digits, '-', '_', '.';"
                " the suffix '.previous' is reserved for rotation)"
            )
        return value

    @field_validator("run_secrets")
    @classmethod
    def _run_secrets(cls, value: str | None) -> str | None:
        if value is not None and not _DNS_SUBDOMAIN.match(value):
            raise ValueError(f"{value!r} is not a valid Secret name")
        return value

    @field_validator("pull_request_types")
    @classmethod
    def _types(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return None if value is None else _check_types(value)

    def accepts_pull_request(self, action: str, default: tuple[str, ...]) -> bool:
        types = default if self.pull_request_types is None else self.pull_request_types
        return ALL_TYPES in types or action in types

    def clone_url_for(self, full_name: str, payload_url: str) -> str:
        if self.clone_url is None:
            return payload_url
        return self.clone_url.replace("{full_name}", full_name)


def _check_types(value: tuple[str, ...]) -> tuple[str, ...]:
    bad = [t for t in value if not _PR_TYPE.match(t)]
    if bad:
        raise ValueError(f"not pull_request activity types: {', '.join(map(repr, bad))}")
    return value


class ReceiverConfig(_Config):
    repositories: tuple[RepositoryRule, ...]
    pull_request_types: tuple[str, ...] = Field(
        default=DEFAULT_PULL_REQUEST_TYPES, alias="pullRequestTypes"
    )
    #: namespaces searched for a callback's CIWorkflow; default: the repositories' namespaces
    callback_namespaces: tuple[str, ...] = Field(default=(), alias="callbackNamespaces")
    max_body_bytes: int = Field(default=GITHUB_MAX_PAYLOAD_BYTES, alias="maxBodyBytes", gt=0)
    max_event_bytes: int = Field(default=DEFAULT_MAX_EVENT_BYTES, alias="maxEventBytes", gt=0)

    @field_validator("pull_request_types")
    @classmethod
    def _types(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _check_types(value)

    @field_validator("callback_namespaces")
    @classmethod
    def _namespaces(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [ns for ns in value if not _DNS_LABEL.match(ns)]
        if bad:
            raise ValueError(f"not namespace names: {', '.join(map(repr, bad))}")
        return value

    @field_validator("repositories")
    @classmethod
    def _unique(cls, value: tuple[RepositoryRule, ...]) -> tuple[RepositoryRule, ...]:
        seen: set[str] = set()
        for rule in value:
            key = rule.name.lower()
            if key in seen:
                raise ValueError(f"repository {rule.name!r} is configured twice")
            seen.add(key)
        return value

    def rule_for(self, full_name: str) -> RepositoryRule | None:
        """The rule for ``owner/name``: an exact entry wins over ``owner/*``.
        GitHub names are case-insensitive, so matching is too."""
        wanted = full_name.lower()
        owner = wanted.split("/", 1)[0]
        wildcard = None
        for rule in self.repositories:
            name = rule.name.lower()
            if name == wanted:
                return rule
            if name == f"{owner}/*":
                wildcard = rule
        return wildcard

    @property
    def namespaces(self) -> tuple[str, ...]:
        """Where callbacks look for CIWorkflows, in a stable order."""
        if self.callback_namespaces:
            return self.callback_namespaces
        return tuple(dict.fromkeys(rule.namespace for rule in self.repositories))

    @property
    def secret_names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(rule.webhook_secret for rule in self.repositories))


def parse_config(data: Any, source: str) -> ReceiverConfig:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the configuration must be a mapping")
    try:
        return ReceiverConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"{source}: {problems}") from None


def load_config(path: Path) -> ReceiverConfig:
    """Read the configuration file (YAML or JSON)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot read the receiver configuration {path}: {exc.strerror}"
        ) from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not valid YAML/JSON: {exc}") from None
    return parse_config(data, str(path))


def rule_from_flag(flag: str) -> dict[str, str]:
    """``--repository owner/name=namespace[:secret-key]`` as a rule mapping."""
    repo, sep, rest = flag.partition("=")
    if not sep or not repo or not rest:
        raise ConfigError(f"--repository {flag!r}: expected OWNER/NAME=NAMESPACE[:SECRET_KEY]")
    namespace, _, secret = rest.partition(":")
    rule = {"name": repo, "namespace": namespace}
    if secret:
        rule["webhookSecret"] = secret
    return rule
