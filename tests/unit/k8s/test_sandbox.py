"""Rendering sandboxes: Job, spec ConfigMap and callback Secret for one attempt."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from cairn.engine.jobspec import JobSpec
from cairn.k8s import names, resources, tokens
from cairn.k8s.runnerclass import RunnerClass, from_object, select
from cairn.k8s.sandbox import (
    CALLBACK_DIR,
    RUNNER,
    RUNTIME_DIR,
    SECRETS_DIR,
    Sandbox,
    SandboxError,
    SpecTooLargeError,
    UnsupportedSandboxFeatureError,
    WorkflowIdentity,
    render_sandbox,
)
from cairn.k8s.settings import OperatorSettings
from cairn.workflow import parse_workflow
from cairn.workflow.model import Container

KEY = b"k" * 32
SETTINGS = OperatorSettings()
IDENTITY = WorkflowIdentity(
    namespace="ci",
    run_name="push-acme-web-1a2b3c",
    workflow_name=names.workflow_name("push-acme-web-1a2b3c", "ci.yml"),
    workflow_uid="0b7c6d1e-2f3a-4b5c-8d9e-0f1a2b3c4d5e",
    secret_name="acme-web-secrets",
)
DEFAULT = from_object(
    {
        "metadata": {"name": "default"},
        "spec": {
            "labels": ["ubuntu-latest", "linux"],
            "image": "registry.example/cairn:1.0",
            "resources": {
                "requests": {"cpu": "500m", "memory": "1Gi"},
                "limits": {"memory": "2Gi"},
            },
            "nodeSelector": {"pool": "ci"},
            "tolerations": [{"key": "ci", "operator": "Exists", "effect": "NoSchedule"}],
            "serviceAccountName": "ci-runner",
            "imagePullSecrets": ["regcred"],
            "env": [{"name": "HTTP_PROXY", "value": "http://proxy:3128"}],
        },
    }
)

WORKFLOW = """
name: CI
on: push
jobs:
  test:
    runs-on: ubuntu-latest
    timeout-minutes: 20
    container:
      image: node:${{ matrix.node }}-bookworm
      env:
        NODE_ENV: test
        NPM_TOKEN: ${{ secrets.NPM_TOKEN }}
      ports: [9229]
    services:
      redis:
        image: redis:7
        ports: ["6379:6379"]
        options: >-
          --health-cmd "redis-cli ping"
          --health-interval 10s
          --health-timeout 5s
          --health-retries 5
      postgres:
        image: postgres:16
        env:
          POSTGRES_PASSWORD: ${{ secrets.PG_PASSWORD }}
          POSTGRES_DB: app_${{ matrix.node }}
        ports: [5432]
    strategy:
      matrix:
        node: [20, 22]
    steps:
      - run: npm ci && npm test
  lint:
    runs-on: ubuntu-latest
    steps:
      - run: echo "${{ secrets.GITHUB_TOKEN }}" | wc -c
"""


def job_spec(job_id: str = "test", instance: str = "test.1", **changes: Any) -> JobSpec:
    job = parse_workflow(WORKFLOW, "ci.yml").jobs[job_id]
    values: dict[str, Any] = {
        "workflow_file": "ci.yml",
        "workflow_name": "CI",
        "instance_id": instance,
        "name": "test (20)",
        "attempt": 2,
        "callback_token": "Zm9vYmFyYmF6cXV4cXV1eA",
        "deadline": datetime(2026, 3, 1, 12, 20, tzinfo=UTC),
        "job": job,
        "contexts": {
            "matrix": {"node": 20},
            "github": {"sha": "9fceb02d", "ref": "refs/heads/main"},
        },
        "runs_on": ("ubuntu-latest",),
        "timeout_minutes": 20.0,
        "secret_names": ("NPM_TOKEN", "PG_PASSWORD"),
    }
    values.update(changes)
    return JobSpec(**values)


def render(spec: JobSpec | None = None, **kwargs: Any) -> Sandbox:
    kwargs.setdefault("operator_key", KEY)
    return render_sandbox(
        spec or job_spec(),
        kwargs.pop("runner_class", DEFAULT),
        kwargs.pop("identity", IDENTITY),
        kwargs.pop("settings", SETTINGS),
        **kwargs,
    )


def pod_of(sandbox: Sandbox) -> dict[str, Any]:
    pod: dict[str, Any] = sandbox.job["spec"]["template"]["spec"]
    return pod


def container(pod: dict[str, Any], name: str) -> dict[str, Any]:
    everything = pod["containers"] + pod.get("initContainers", [])
    (found,) = [c for c in everything if c["name"] == name]
    return found


def env_of(c: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in c.get("env", [])}


def walk_strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in walk_strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in walk_strings(v)]
    return []


# --- the Job ------------------------------------------------------------------------


def test_job_identity_labels_and_owner() -> None:
    sandbox = render()
    meta = sandbox.job["metadata"]
    assert meta["name"] == names.job_name(IDENTITY.workflow_name, "test.1", 2)
    assert meta["namespace"] == "ci"
    assert meta["labels"] == {
        "app.kubernetes.io/managed-by": "cairn",
        "cairn.dev/run": "push-acme-web-1a2b3c",
        "cairn.dev/workflow": IDENTITY.workflow_name,
        "cairn.dev/job": "test",
        "cairn.dev/instance": "test.1",
        "cairn.dev/attempt": "2",
    }
    assert meta["annotations"][resources.ANNOTATION_INSTANCE_ID] == "test.1"
    assert meta["annotations"][resources.ANNOTATION_RUNNER_CLASS] == "default"
    assert meta["ownerReferences"] == [
        {
            "apiVersion": "cairn.dev/v1alpha1",
            "kind": "CIWorkflow",
            "name": IDENTITY.workflow_name,
            "uid": IDENTITY.workflow_uid,
            "controller": True,
        }
    ]
    assert sandbox.job["spec"]["template"]["metadata"]["labels"] == meta["labels"]


def test_job_leaves_retries_to_the_orchestrator_and_is_bounded_in_time() -> None:
    spec = render().job["spec"]
    assert spec["backoffLimit"] == 0
    assert spec["activeDeadlineSeconds"] == 20 * 60 + SETTINGS.deadline_grace_seconds
    assert spec["ttlSecondsAfterFinished"] == SETTINGS.job_ttl_seconds
    fractional = render(job_spec(timeout_minutes=0.5)).job["spec"]
    assert fractional["activeDeadlineSeconds"] == 30 + SETTINGS.deadline_grace_seconds
    with pytest.raises(SandboxError, match="timeout-minutes"):
        render(job_spec(timeout_minutes=0))


def test_rendering_is_deterministic() -> None:
    assert render() == render()


def test_pod_is_hardened() -> None:
    pod = pod_of(render())
    assert pod["restartPolicy"] == "Never"
    assert pod["automountServiceAccountToken"] is False
    assert pod["enableServiceLinks"] is False
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 1001,
        "runAsGroup": 1001,
        "fsGroup": 1001,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    for c in pod["containers"] + pod["initContainers"]:
        security = c["securityContext"]
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"]["drop"] == ["ALL"]
        assert "limits" in c["resources"] or "requests" in c["resources"]


def test_runner_class_shapes_the_pod() -> None:
    pod = pod_of(render(job_spec("lint", "lint")))
    runner = container(pod, "runner")
    assert runner["image"] == "registry.example/cairn:1.0"
    assert runner["resources"] == {
        "requests": {"cpu": "500m", "memory": "1Gi"},
        "limits": {"memory": "2Gi"},
    }
    assert pod["nodeSelector"] == {"pool": "ci"}
    assert pod["tolerations"] == [{"key": "ci", "operator": "Exists", "effect": "NoSchedule"}]
    assert pod["serviceAccountName"] == "ci-runner"
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    assert env_of(runner)["HTTP_PROXY"] == "http://proxy:3128"


def test_a_class_without_resources_gets_the_default_limits() -> None:
    bare = select(["ubuntu-latest"], [], settings=SETTINGS)
    runner = container(pod_of(render(job_spec("lint", "lint"), runner_class=bare)), "runner")
    assert runner["image"] == SETTINGS.runner_image
    assert runner["resources"]["limits"] == {"cpu": "2", "memory": "4Gi"}


def test_runner_is_the_entrypoint_and_reports_through_the_termination_log() -> None:
    runner = container(pod_of(render(job_spec("lint", "lint"))), "runner")
    assert runner["command"] == [
        RUNNER,
        "runner",
        "--spec",
        "/cairn/spec/spec.json",
        "--result",
        "/dev/termination-log",
        "--secrets-dir",
        SECRETS_DIR,
        "--workspace",
        "/cairn/workspace",
    ]
    assert runner["terminationMessagePolicy"] == "File"
    assert runner["terminationMessagePath"] == "/dev/termination-log"


# --- the spec ConfigMap and the callback Secret --------------------------------------


def test_spec_configmap_round_trips_the_jobspec() -> None:
    spec = job_spec()
    sandbox = render(spec)
    config_map = sandbox.spec_config_map
    assert config_map["metadata"]["name"] == sandbox.name
    assert config_map["immutable"] is True
    assert JobSpec.model_validate_json(config_map["data"]["spec.json"]) == spec
    volumes = {v["name"]: v for v in pod_of(sandbox)["volumes"]}
    assert volumes["spec"]["configMap"]["name"] == config_map["metadata"]["name"]


def test_a_spec_over_the_configmap_limit_is_refused_before_anything_is_created() -> None:
    big = job_spec(contexts={"github": {"event": {"commits": ["x" * 1024] * 1100}}})
    with pytest.raises(SpecTooLargeError) as caught:
        render(big)
    assert "over the 1048576-byte limit" in str(caught.value)
    # The limit counts the key and the UTF-8 payload, exactly as the API server does.
    size = len("spec.json") + len(job_spec().model_dump_json(by_alias=True).encode())
    render(settings=OperatorSettings(max_spec_bytes=size))
    with pytest.raises(SpecTooLargeError):
        render(settings=OperatorSettings(max_spec_bytes=size - 1))


def test_companions_are_owned_by_the_job_once_it_exists() -> None:
    sandbox = render()
    owned = sandbox.owned_by_job("5d0f-uid")
    assert [m["kind"] for m in owned] == ["ConfigMap", "Secret"]
    for manifest in owned:
        assert manifest["metadata"]["ownerReferences"] == [
            {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "name": sandbox.name,
                "uid": "5d0f-uid",
                "controller": True,
            }
        ]
    # The rendered originals are left as they were.
    assert "ownerReferences" not in sandbox.spec_config_map["metadata"]


def test_callback_secret_is_per_attempt_and_only_mounted_never_inlined() -> None:
    sandbox = render(job_spec("lint", "lint"))
    assert sandbox.callback_secret is not None
    token = tokens.public_token(
        tokens.callback_key("ci", IDENTITY.workflow_name), "Zm9vYmFyYmF6cXV4cXV1eA"
    )
    secret_value = tokens.callback_secret(KEY, token)
    assert sandbox.callback_secret["stringData"] == {"secret": secret_value}
    assert secret_value not in json.dumps(sandbox.job)
    runner = container(pod_of(sandbox), "runner")
    env = env_of(runner)
    assert env["CAIRN_CALLBACK_TOKEN"] == token
    assert env["CAIRN_CALLBACK_URL"] == (
        f"http://cairn-webhook.cairn-system.svc:8080/callbacks/{token}"
    )
    assert env["CAIRN_CALLBACK_SECRET_FILE"] == f"{CALLBACK_DIR}/secret"
    volumes = {v["name"]: v for v in pod_of(sandbox)["volumes"]}
    assert (
        volumes["callback"]["secret"]["secretName"] == sandbox.callback_secret["metadata"]["name"]
    )
    assert volumes["callback"]["secret"]["defaultMode"] == 0o440


def test_without_a_callback_url_there_is_no_callback() -> None:
    sandbox = render(settings=OperatorSettings(callback_base_url=None), operator_key=None)
    assert sandbox.callback_secret is None
    assert "CAIRN_CALLBACK_URL" not in env_of(container(pod_of(sandbox), "runner"))
    assert [m["kind"] for m in sandbox.owned_by_job("uid")] == ["ConfigMap"]
    with pytest.raises(SandboxError, match="no operator key"):
        render(operator_key=None)


def test_run_secrets_are_a_volume_of_only_the_referenced_keys() -> None:
    volumes = {v["name"]: v for v in pod_of(render())["volumes"]}
    assert volumes["secrets"]["secret"] == {
        "secretName": "acme-web-secrets",
        "optional": True,
        "items": [
            {"key": "NPM_TOKEN", "path": "NPM_TOKEN"},
            {"key": "PG_PASSWORD", "path": "PG_PASSWORD"},
        ],
        "defaultMode": 0o440,
    }


@pytest.mark.parametrize(
    ("secret_name", "secret_names"), [(None, ("NPM_TOKEN",)), ("acme-web-secrets", ())]
)
def test_no_secrets_means_an_empty_directory_never_the_whole_secret(
    secret_name: str | None, secret_names: tuple[str, ...]
) -> None:
    identity = WorkflowIdentity(**{**IDENTITY.__dict__, "secret_name": secret_name})
    sandbox = render(job_spec("lint", "lint", secret_names=secret_names), identity=identity)
    volumes = {v["name"]: v for v in pod_of(sandbox)["volumes"]}
    assert volumes["secrets"] == {"name": "secrets", "emptyDir": {}}


# --- container jobs and services ----------------------------------------------------


def test_job_container_runs_steps_in_the_users_image_with_the_runner_copied_in() -> None:
    pod = pod_of(render())
    runner = container(pod, "runner")
    assert runner["image"] == "node:20-bookworm"
    assert runner["command"][0] == RUNNER
    assert {"name": "runtime", "mountPath": RUNTIME_DIR, "readOnly": True} in runner["volumeMounts"]
    assert runner["ports"] == [{"containerPort": 9229, "protocol": "TCP"}]
    env = env_of(runner)
    assert env["NODE_ENV"] == "test"
    assert env["CAIRN_JOB_CONTAINER"] == "node:20-bookworm"
    assert env["NPM_TOKEN"] == {
        "secretKeyRef": {"name": "acme-web-secrets", "key": "NPM_TOKEN", "optional": True}
    }
    copier = pod["initContainers"][0]
    assert copier["name"] == "cairn-runtime"
    assert copier["image"] == SETTINGS.runner_image
    assert copier["command"] == ["/bin/sh", "-c", "cp -a /opt/cairn/. /cairn/runtime/"]
    assert "restartPolicy" not in copier  # a plain init container: it finishes first


def test_an_empty_container_image_runs_the_job_on_the_runner_image() -> None:
    # GitHub runs a job on the host when its container image evaluates to "".
    spec = job_spec(contexts={"matrix": {"node": ""}})
    job = spec.job.model_copy(
        update={"container": spec.job.container.model_copy(update={"image": "${{ matrix.node }}"})}  # type: ignore[union-attr]
    )
    pod = pod_of(render(spec.model_copy(update={"job": job})))
    assert container(pod, "runner")["image"] == "registry.example/cairn:1.0"
    assert all(c["name"] != "cairn-runtime" for c in pod.get("initContainers", []))


def test_a_class_with_a_foreign_image_gets_the_runner_injected() -> None:
    foreign = from_object(
        {
            "metadata": {"name": "ubuntu"},
            "spec": {"labels": ["ubuntu-latest"], "image": "ubuntu:24.04", "injectRunner": True},
        }
    )
    pod = pod_of(render(job_spec("lint", "lint"), runner_class=foreign))
    assert container(pod, "runner")["image"] == "ubuntu:24.04"
    assert pod["initContainers"][0]["name"] == "cairn-runtime"


def test_services_are_native_sidecars_reachable_by_name() -> None:
    pod = pod_of(render())
    redis = container(pod, "svc-redis")
    assert redis["restartPolicy"] == "Always"
    assert redis["image"] == "redis:7"
    assert redis["ports"] == [{"containerPort": 6379, "protocol": "TCP"}]
    assert redis["startupProbe"] == {
        "exec": {"command": ["/bin/sh", "-c", "redis-cli ping"]},
        "periodSeconds": 10,
        "timeoutSeconds": 5,
        "failureThreshold": 5,
    }
    postgres = container(pod, "svc-postgres")
    assert "startupProbe" not in postgres
    env = env_of(postgres)
    assert env["POSTGRES_DB"] == "app_20"
    assert env["POSTGRES_PASSWORD"] == {
        "secretKeyRef": {"name": "acme-web-secrets", "key": "PG_PASSWORD", "optional": True}
    }
    assert postgres["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert pod["hostAliases"] == [{"ip": "127.0.0.1", "hostnames": ["postgres", "redis"]}]
    # The runtime copier comes first: sidecars must not hold it up.
    assert [c["name"] for c in pod["initContainers"]] == [
        "cairn-runtime",
        "svc-redis",
        "svc-postgres",
    ]


def test_a_class_may_let_services_run_as_root_with_few_capabilities() -> None:
    lenient = from_object(
        {
            "metadata": {"name": "db"},
            "spec": {"labels": ["ubuntu-latest"], "services": {"allowRoot": True}},
        }
    )
    postgres = container(pod_of(render(runner_class=lenient)), "svc-postgres")
    security = postgres["securityContext"]
    assert security["runAsNonRoot"] is False and security["runAsUser"] == 0
    assert security["allowPrivilegeEscalation"] is False
    assert set(security["capabilities"]["add"]) == {
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "SETGID",
        "SETUID",
    }


def test_no_secret_value_or_secret_expression_reaches_the_job_manifest() -> None:
    strings = walk_strings(render().job)
    assert not any("secrets." in s for s in strings)


def with_services(services: dict[str, Any], spec: JobSpec | None = None) -> JobSpec:
    # Built from the IR directly: some of these the compiler itself would refuse.
    spec = spec or job_spec()
    built = {name: Container.model_validate(service) for name, service in services.items()}
    return spec.model_copy(update={"job": spec.job.model_copy(update={"services": built})})


@pytest.mark.parametrize(
    ("services", "error", "message"),
    [
        (
            {"db": {"image": "pg", "ports": ["5433:5432"]}},
            UnsupportedSandboxFeatureError,
            "both sides",
        ),
        (
            {"db": {"image": "pg", "ports": ["8000-8010:8000-8010"]}},
            UnsupportedSandboxFeatureError,
            "not supported",
        ),
        (
            {"db": {"image": "pg", "options": "--cpus 2"}},
            UnsupportedSandboxFeatureError,
            "'--cpus' is not supported",
        ),
        (
            {"db": {"image": "pg", "volumes": ["data:/var/lib"]}},
            UnsupportedSandboxFeatureError,
            "volumes",
        ),
        (
            {"db": {"image": "pg", "credentials": {"username": "u", "password": "p"}}},
            UnsupportedSandboxFeatureError,
            "imagePullSecrets",
        ),
        ({"my_db": {"image": "pg"}}, UnsupportedSandboxFeatureError, "rename the service"),
        (
            {"db": {"image": "pg", "options": "--health-cmd x --health-interval often"}},
            SandboxError,
            "not a duration",
        ),
        ({"db": {"image": "pg", "options": "--health-cmd"}}, SandboxError, "needs a value"),
        (
            {"db": {"image": "pg", "env": {"URL": "pg://u:${{ secrets.PW }}@db"}}},
            UnsupportedSandboxFeatureError,
            "whole value",
        ),
        (
            {"db": {"image": "${{ secrets.IMAGE }}"}},
            UnsupportedSandboxFeatureError,
            "not available",
        ),
    ],
)
def test_unsupported_service_features_fail_clearly(
    services: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as caught:
        render(with_services(services))
    assert message in str(caught.value)
    assert "services.db" in str(caught.value) or "my_db" in str(caught.value)


def test_health_options_accept_docker_forms() -> None:
    spec = with_services(
        {
            "db": {
                "image": "pg",
                "options": "--health-cmd='pg_isready -U app' --health-interval=1m30s "
                "--health-start-period 3m --health-retries=2",
            }
        }
    )
    probe = container(pod_of(render(spec)), "svc-db")["startupProbe"]
    assert probe["exec"]["command"] == ["/bin/sh", "-c", "pg_isready -U app"]
    assert probe["periodSeconds"] == 90
    assert probe["timeoutSeconds"] == 30  # Docker's default
    assert probe["failureThreshold"] == 2 + 2  # plus the start period's worth


@pytest.mark.parametrize(
    ("container_yaml", "message"),
    [
        ({"image": "node:20", "options": "--user root"}, "docker options"),
        ({"image": "node:20", "volumes": ["/src:/src"]}, "volumes"),
        (
            {"image": "node:20", "credentials": {"username": "u", "password": "p"}},
            "imagePullSecrets",
        ),
    ],
)
def test_unsupported_container_features_fail_clearly(
    container_yaml: dict[str, Any], message: str
) -> None:
    parsed = parse_workflow(
        "on: push\njobs:\n  t:\n    runs-on: ubuntu-latest\n    steps: [{run: 'true'}]\n"
        "    container: " + json.dumps(container_yaml) + "\n",
        "c.yml",
    )
    spec = job_spec()
    spec = spec.model_copy(
        update={"job": spec.job.model_copy(update={"container": parsed.jobs["t"].container})}
    )
    with pytest.raises(UnsupportedSandboxFeatureError) as caught:
        render(spec)
    assert message in str(caught.value)


def test_expression_errors_name_the_template() -> None:
    with pytest.raises(SandboxError, match=r"cannot evaluate .pg:"):
        render(with_services({"db": {"image": "pg:${{ fromJSON('{') }}"}}))


def test_an_injected_evaluator_is_used() -> None:
    seen: list[str] = []

    def evaluate(template: str) -> str:
        seen.append(template)
        return "node:custom"

    runner = container(pod_of(render(evaluate=evaluate)), "runner")
    assert runner["image"] == "node:custom"
    assert "node:${{ matrix.node }}-bookworm" in seen


def test_runner_class_choice_for_a_rendered_class_is_recorded() -> None:
    chosen: RunnerClass = select(["ubuntu-latest"], [DEFAULT], settings=SETTINGS)
    sandbox = render(runner_class=chosen)
    assert sandbox.job["metadata"]["annotations"][resources.ANNOTATION_RUNNER_CLASS] == "default"


def test_identity_comes_from_the_ciworkflow_object() -> None:
    ciworkflow = {
        "apiVersion": "cairn.dev/v1alpha1",
        "kind": "CIWorkflow",
        "metadata": {"namespace": "ci", "name": "hello-ci-abcdefgh", "uid": "u-1"},
        "spec": {"run": "hello", "file": "ci.yml", "secretName": "hello-secrets"},
    }
    assert WorkflowIdentity.from_object(ciworkflow) == WorkflowIdentity(
        namespace="ci",
        run_name="hello",
        workflow_name="hello-ci-abcdefgh",
        workflow_uid="u-1",
        secret_name="hello-secrets",
    )
    del ciworkflow["metadata"]["uid"]  # type: ignore[attr-defined]
    with pytest.raises(SandboxError, match=r"without metadata\.uid"):
        WorkflowIdentity.from_object(ciworkflow)
