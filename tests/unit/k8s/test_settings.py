"""Operator settings: typed, documented, parsed from the environment with clear errors."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import itertools
from pathlib import Path

import pytest

from cairn.k8s import settings as settings_module
from cairn.k8s.settings import (
    InvalidSettingError,
    OperatorSettings,
    from_env,
    load_operator_key,
    peering_priority_for,
)


def test_defaults_are_valid() -> None:
    settings = OperatorSettings()
    assert settings.namespaces == ()
    assert settings.max_spec_bytes == 1024 * 1024


def test_every_knob_has_a_docstring() -> None:
    # Kopf-style: a string literal right below each field.
    source = inspect.getsource(OperatorSettings)
    body = ast.parse(source).body[0]
    assert isinstance(body, ast.ClassDef)
    documented = set()
    statements = body.body
    for field, following in itertools.pairwise(statements):
        if isinstance(field, ast.AnnAssign) and isinstance(field.target, ast.Name):
            value = following.value if isinstance(following, ast.Expr) else None
            if isinstance(value, ast.Constant) and str(value.value).strip():
                documented.add(field.target.id)
    fields = {f.name for f in dataclasses.fields(OperatorSettings)}
    assert fields - documented == set()


def test_environment_variables_set_knobs_by_type() -> None:
    settings = from_env(
        {
            "CAIRN_NAMESPACES": "ci, ci-staging",
            "CAIRN_JOB_TTL_SECONDS": "600",
            "CAIRN_GIT_TIMEOUT_SECONDS": "2.5",
            "CAIRN_BUILTIN_RUNNER_CLASS": "false",
            "CAIRN_CALLBACK_BASE_URL": "",
            "CAIRN_PEERING_LIFETIME_SECONDS": "15",
            "POD_NAME": "cairn-operator-7d9f-abcde",
            "HOME": "/root",
        }
    )
    assert settings.namespaces == ("ci", "ci-staging")
    assert settings.job_ttl_seconds == 600
    assert settings.git_timeout_seconds == 2.5
    assert settings.builtin_runner_class is False
    assert settings.callback_base_url is None
    assert settings.peering_lifetime_seconds == 15
    assert settings.pod_name == "cairn-operator-7d9f-abcde"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"CAIRN_JOB_TTL_SECONDS": "a day"}, "CAIRN_JOB_TTL_SECONDS='a day'"),
        ({"CAIRN_BUILTIN_RUNNER_CLASS": "maybe"}, "expected true or false"),
        ({"CAIRN_JOB_TTL_SECOND": "60"}, "unknown operator setting(s): CAIRN_JOB_TTL_SECOND"),
        ({"CAIRN_MAX_SPEC_BYTES": str(2 * 1024 * 1024)}, "ConfigMap limit"),
        ({"CAIRN_CALLBACK_BASE_URL": "cairn-webhook:8080"}, "http(s) URL"),
        ({"CAIRN_GIT_TIMEOUT_SECONDS": "0"}, "must be positive"),
        ({"CAIRN_DEADLINE_GRACE_SECONDS": "-1"}, "must not be negative"),
        ({"CAIRN_PEERING_LIFETIME_SECONDS": "2"}, "peering_lifetime_seconds must be at least 3"),
        ({"CAIRN_PEERING_LIFETIME_SECONDS": "5.5"}, "CAIRN_PEERING_LIFETIME_SECONDS='5.5'"),
    ],
)
def test_bad_values_are_refused_with_the_variable_named(
    environ: dict[str, str], message: str
) -> None:
    with pytest.raises(InvalidSettingError) as caught:
        from_env(environ)
    assert message in str(caught.value)


def test_replicas_get_distinct_stable_priorities_from_their_pod_names() -> None:
    a = OperatorSettings(pod_name="cairn-operator-5f7c9d-x2x7q")
    b = OperatorSettings(pod_name="cairn-operator-5f7c9d-kq4zt")
    assert a.effective_peering_priority() != b.effective_peering_priority()
    assert a.effective_peering_priority() == peering_priority_for("cairn-operator-5f7c9d-x2x7q")
    assert 1 <= a.effective_peering_priority() < 2**31
    assert OperatorSettings(pod_name="p", peering_priority=7).effective_peering_priority() == 7


def test_operator_key_is_read_and_checked(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("f" * 64 + "\n")
    assert load_operator_key(key_file) == b"f" * 64
    key_file.write_text("short")
    with pytest.raises(InvalidSettingError, match="at least 32"):
        load_operator_key(key_file)
    with pytest.raises(InvalidSettingError, match="cairn-operator-key"):
        load_operator_key(tmp_path / "missing")


def test_permissions_are_unique_per_resource() -> None:
    seen = [
        (p.api_group, p.resource, p.resource_names) for p in settings_module.OPERATOR_PERMISSIONS
    ]
    assert len(seen) == len(set(seen))
    assert all(p.why for p in settings_module.OPERATOR_PERMISSIONS)


def test_every_knob_is_documented_in_the_kubernetes_reference() -> None:
    docs = (Path(__file__).resolve().parents[3] / "docs" / "kubernetes.md").read_text()
    for knob in dataclasses.fields(OperatorSettings):
        assert f"`{settings_module.env_name(knob.name)}`" in docs, knob.name
