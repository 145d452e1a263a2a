"""The receiver's configuration (file and flags) and its secrets."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from cairn.webhook.cli import build_config, configure
from cairn.webhook.config import ReceiverConfig, load_config, parse_config
from cairn.webhook.errors import ConfigError
from cairn.webhook.secrets import SecretLoader

KEY = b"k" * 32


def test_a_configmap_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        """
repositories:
  - name: octo-org/hello-world
    namespace: ci-hello
    webhookSecret: hello
    runSecrets: hello-ci-secrets
    pullRequestTypes: [opened, synchronize, reopened, labeled]
  - name: octo-org/*
    namespace: ci-octo
    cloneUrl: https://git.mirror.internal/{full_name}.git
pullRequestTypes: [opened]
callbackNamespaces: [ci-hello]
"""
    )
    config = load_config(path)
    exact = config.rule_for("octo-org/hello-world")
    assert exact is not None and exact.namespace == "ci-hello" and exact.webhook_secret == "hello"
    assert exact.run_secrets == "hello-ci-secrets"
    assert exact.accepts_pull_request("labeled", config.pull_request_types)
    wildcard = config.rule_for("octo-org/other")
    assert wildcard is not None and wildcard.namespace == "ci-octo"
    assert not wildcard.accepts_pull_request("synchronize", config.pull_request_types)
    assert (
        wildcard.clone_url_for("octo-org/other", "https://github.com/octo-org/other.git")
        == "https://git.mirror.internal/octo-org/other.git"
    )
    assert config.rule_for("someone/else") is None
    assert config.namespaces == ("ci-hello",)
    assert config.secret_names == ("hello", "default")


def test_namespaces_default_to_the_repositories() -> None:
    config = ReceiverConfig.model_validate(
        {
            "repositories": [
                {"name": "a/b", "namespace": "x"},
                {"name": "a/c", "namespace": "x"},
                {"name": "d/*", "namespace": "y"},
            ]
        }
    )
    assert config.namespaces == ("x", "y")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "repositories: Field required"),
        ({"repositories": [{"name": "no-slash", "namespace": "ci"}]}, "not a repository name"),
        ({"repositories": [{"name": "*/*", "namespace": "ci"}]}, "not a repository name"),
        ({"repositories": [{"name": "a/b", "namespace": "CI_Upper"}]}, "not a valid namespace"),
        (
            {
                "repositories": [
                    {"name": "a/b", "namespace": "ci"},
                    {"name": "A/B", "namespace": "x"},
                ]
            },
            "configured twice",
        ),
        (
            {"repositories": [{"name": "a/b", "namespace": "ci", "webhookSecret": "s.previous"}]},
            "reserved",
        ),
        (
            {"repositories": [{"name": "a/b", "namespace": "ci", "pullRequestTypes": ["Opened"]}]},
            "not pull_request activity types",
        ),
        ({"repositories": [{"name": "a/b", "namespace": "ci", "branch": "main"}]}, "Extra inputs"),
        ({"repositories": [], "maxBodyBytes": 0}, "maxBodyBytes"),
    ],
)
def test_bad_configuration_is_refused_with_the_reason(data: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(data, "webhook.yaml")


def test_unreadable_or_malformed_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("repositories: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(broken)
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config(listed)


def parse_flags(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    configure(parser)
    return parser.parse_args(list(argv))


def test_flags_configure_small_setups_and_extend_a_file(tmp_path: Path) -> None:
    config = build_config(
        parse_flags(
            "--repository",
            "octo-org/hello-world=ci-hello",
            "--repository",
            "team-b/*=ci-b:team-b",
            "--pull-request-types",
            "opened, labeled",
        )
    )
    rule = config.rule_for("team-b/anything")
    assert rule is not None and rule.namespace == "ci-b" and rule.webhook_secret == "team-b"
    assert config.pull_request_types == ("opened", "labeled")
    path = tmp_path / "c.yaml"
    path.write_text("repositories: [{name: a/b, namespace: ci}]\nmaxEventBytes: 4096\n")
    merged = build_config(parse_flags("--config", str(path), "--repository", "c/d=ci2"))
    assert [r.name for r in merged.repositories] == ["a/b", "c/d"]
    assert merged.max_event_bytes == 4096


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ((), "nothing to serve"),
        (("--repository", "octo-org/hello"), "expected OWNER/NAME=NAMESPACE"),
        (("--repository", "a/b=ci", "--repository", "a/b=ci2"), "configured twice"),
    ],
)
def test_bad_flags_are_refused(argv: tuple[str, ...], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_config(parse_flags(*argv))


def test_secrets_from_a_mounted_directory_with_rotation(tmp_path: Path) -> None:
    (tmp_path / "default").write_bytes(b"current\n")
    (tmp_path / "default.previous").write_bytes(b"old\r\n")
    (tmp_path / "team-b").write_bytes(b"b-secret")
    key_file = tmp_path / "key"
    key_file.write_bytes(b"  " + KEY + b"\n")
    loader = SecretLoader(
        ("default", "team-b"), webhook_dir=tmp_path, operator_key_file=key_file, env={}
    )
    snapshot = loader.load()
    assert snapshot.problems == ()
    assert snapshot.values_for("default") == (b"current", b"old")
    assert snapshot.values_for("team-b") == (b"b-secret",)
    assert snapshot.operator_key == KEY  # stripped, as the operator reads it


def test_secrets_from_the_environment() -> None:
    env = {
        "CAIRN_WEBHOOK_SECRET": "from-env",
        "CAIRN_WEBHOOK_SECRET_PREVIOUS": "older",
        "CAIRN_OPERATOR_KEY": KEY.decode(),
    }
    snapshot = SecretLoader(("default",), env=env).load()
    assert snapshot.values_for("default") == (b"from-env", b"older")
    assert snapshot.operator_key == KEY and snapshot.problems == ()


def test_missing_secrets_are_reported_not_guessed(tmp_path: Path) -> None:
    (tmp_path / "default").write_bytes(b"\n")  # empty once the newline is dropped
    short = tmp_path / "key"
    short.write_bytes(b"too-short")
    snapshot = SecretLoader(
        ("default", "team-b"), webhook_dir=tmp_path, operator_key_file=short, env={}
    ).load()
    assert snapshot.webhook == {}
    assert snapshot.operator_key is None
    assert snapshot.problems == (
        "webhook secret 'default' has no value",
        "webhook secret 'team-b' has no value",
        f"the operator key in {short} is 9 bytes; at least 32 are required",
    )
    no_key = SecretLoader(("default",), webhook_dir=tmp_path, env={}).load()
    assert any("no operator key" in p for p in no_key.problems)
