"""``cairn run`` end to end, in-process, on realistic workflows with real shell steps."""

from __future__ import annotations

from pathlib import Path

from tests.unit.local.conftest import Repo, RunCairn


def log_of(outcome_job: dict[str, object]) -> str:
    return Path(str(outcome_job["log"])).read_text(encoding="utf-8")


def test_outputs_flow_across_jobs_and_matrix_instances(repo: Repo, cairn: RunCairn) -> None:
    repo.workflow(
        """
name: Build and test
on: push
jobs:
  version:
    runs-on: ubuntu-latest
    outputs:
      version: ${{ steps.v.outputs.version }}
    steps:
      - id: v
        run: echo "version=2.1.${{ github.run_number }}" >> "$GITHUB_OUTPUT"
  build:
    needs: version
    runs-on: ${{ matrix.os }}
    strategy:
      matrix:
        os: [ubuntu-latest]
        python: ["3.11", "3.12"]
    outputs:
      built: ${{ steps.b.outputs.built }}
    steps:
      - id: b
        run: |
          echo "building ${{ needs.version.outputs.version }} with python ${{ matrix.python }}"
          echo "built=${{ needs.version.outputs.version }}-${{ matrix.python }}" >> "$GITHUB_OUTPUT"
  publish:
    needs: [version, build]
    runs-on: ubuntu-latest
    steps:
      - run: |
          test "${{ needs.build.result }}" = success
          test "${{ needs.version.outputs.version }}" = 2.1.1
          echo "last built: ${{ needs.build.outputs.built }}"
"""
    )
    repo.commit()
    outcome = cairn(max_parallel=4)
    assert outcome.exit_code == 0, outcome.stdout + outcome.stderr
    assert outcome.summary is not None
    assert outcome.summary["conclusion"] == "success"
    assert outcome.job("version")["outputs"] == {"version": "2.1.1"}
    build = outcome.job("build.1")
    assert build["name"] == "build (ubuntu-latest, 3.12)"
    assert build["matrix"] == {"os": "ubuntu-latest", "python": "3.12"}
    assert build["outputs"] == {"built": "2.1.1-3.12"}
    assert "[build (ubuntu-latest, 3.11)] building 2.1.1 with python 3.11" in outcome.stdout
    publish_log = log_of(outcome.job("publish"))
    assert "last built: 2.1.1-3." in publish_log


def test_failure_and_always_conditions_decide_which_jobs_run(repo: Repo, cairn: RunCairn) -> None:
    repo.workflow(
        """
on: push
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - run: echo "3 tests failed"; exit 3
  notify:
    needs: test
    if: failure()
    runs-on: ubuntu-latest
    steps:
      - run: echo "test was ${{ needs.test.result }}"
  deploy:
    needs: test
    runs-on: ubuntu-latest
    steps:
      - run: echo never
  cleanup:
    needs: [test, deploy]
    if: always()
    runs-on: ubuntu-latest
    steps:
      - run: echo "deploy was ${{ needs.deploy.result }}"
"""
    )
    repo.commit()
    outcome = cairn()
    assert outcome.exit_code == 1
    assert outcome.conclusions() == {
        "test": "failure",
        "notify": "success",
        "deploy": "skipped",
        "cleanup": "success",
    }
    assert outcome.job("deploy")["reason"] == "needs_failed"
    assert outcome.job("deploy")["log"] is None
    assert "[notify] test was failure" in outcome.stdout
    assert "[cleanup] deploy was skipped" in outcome.stdout
    assert "Process completed with exit code 3." in log_of(outcome.job("test"))
    assert outcome.summary is not None and outcome.summary["conclusion"] == "failure"


def test_fail_fast_cancels_the_running_matrix_jobs(
    repo: Repo, cairn: RunCairn, tmp_path: Path
) -> None:
    started = tmp_path / "started"
    started.mkdir()
    repo.workflow(
        f"""
on: push
jobs:
  test:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        shard: [1, 2, 3]
    steps:
      - name: Run shard ${{{{ matrix.shard }}}}
        run: |
          if [ "${{{{ matrix.shard }}}}" = 1 ]; then
            # fail only once both other shards are running
            while [ "$(ls {started} | wc -l)" -lt 2 ]; do sleep 0.02; done
            exit 1
          fi
          touch {started}/${{{{ matrix.shard }}}}
          sleep 60
      - name: Upload partial results
        if: always()
        run: echo "uploading shard ${{{{ matrix.shard }}}}"
"""
    )
    repo.commit()
    outcome = cairn(max_parallel=3)
    assert outcome.exit_code == 1
    assert outcome.conclusions() == {
        "test.0": "failure",
        "test.1": "cancelled",
        "test.2": "cancelled",
    }
    cancelled = outcome.job("test.1")
    assert cancelled["reason"] == "fail_fast"
    assert cancelled["steps"] == [
        {"name": "Run shard 2", "outcome": "cancelled", "conclusion": "cancelled"},
        {"name": "Upload partial results", "outcome": "success", "conclusion": "success"},
    ]
    assert cancelled["duration_seconds"] < 30


def test_continue_on_error_keeps_the_run_green(repo: Repo, cairn: RunCairn) -> None:
    repo.workflow(
        """
on: push
jobs:
  experimental:
    runs-on: ubuntu-latest
    continue-on-error: true
    steps:
      - run: exit 1
  lint:
    runs-on: ubuntu-latest
    steps:
      - id: optional
        name: Optional check
        continue-on-error: true
        run: exit 2
      - name: Report
        run: |
          echo "outcome=${{ steps.optional.outcome }} conclusion=${{ steps.optional.conclusion }}"
  after:
    needs: [experimental, lint]
    runs-on: ubuntu-latest
    steps:
      - run: echo "experimental=${{ needs.experimental.result }}"
"""
    )
    repo.commit()
    outcome = cairn()
    assert outcome.exit_code == 0, outcome.stdout
    assert outcome.summary is not None and outcome.summary["conclusion"] == "success"
    assert outcome.conclusions() == {
        "experimental": "failure",
        "lint": "success",
        "after": "success",
    }
    assert outcome.job("lint")["steps"] == [
        {"name": "Optional check", "outcome": "failure", "conclusion": "success"},
        {"name": "Report", "outcome": "success", "conclusion": "success"},
    ]
    assert "[lint] outcome=failure conclusion=success" in outcome.stdout
    assert "[after] experimental=success" in outcome.stdout


def test_a_job_times_out_after_fractional_timeout_minutes(repo: Repo, cairn: RunCairn) -> None:
    repo.workflow(
        """
on: push
jobs:
  slow:
    runs-on: ubuntu-latest
    timeout-minutes: 0.02
    steps:
      - name: Hang
        run: sleep 120
      - name: Always
        if: always()
        run: echo "cleaning up"
  diagnose:
    needs: slow
    if: failure()
    runs-on: ubuntu-latest
    steps:
      - run: echo "slow ended ${{ needs.slow.result }}"
"""
    )
    repo.commit()
    outcome = cairn()
    assert outcome.exit_code == 1
    slow = outcome.job("slow")
    assert (slow["conclusion"], slow["reason"]) == ("failure", "timed_out")
    assert slow["duration_seconds"] < 30
    assert outcome.job("diagnose")["conclusion"] == "success"
    assert "[diagnose] slow ended failure" in outcome.stdout
    log = log_of(slow)
    assert "exceeded the maximum execution time of 0.02 minutes" in log
    assert "cleaning up" in log


def test_env_precedence_working_directory_and_checkout(repo: Repo, cairn: RunCairn) -> None:
    repo.write("app/setup.cfg", "[metadata]\nname = app\n")
    repo.write("app/other/.keep", "")
    repo.workflow(
        """
on: push
env:
  LEVEL: workflow
  WORKFLOW_ONLY: w
defaults:
  run:
    working-directory: app
jobs:
  env:
    runs-on: ubuntu-latest
    env:
      LEVEL: job
      JOB_ONLY: j
    steps:
      - uses: actions/checkout@v4
      - name: Job env beats workflow env
        run: |
          test "$LEVEL" = job && test "$WORKFLOW_ONLY" = w && test "$JOB_ONLY" = j
          test "$(basename "$PWD")" = app && test -f setup.cfg
      - name: Step env beats job env
        env:
          LEVEL: step
        run: test "$LEVEL" = step
      - name: GITHUB_ENV beats job env in later steps
        run: echo "LEVEL=from-file" >> "$GITHUB_ENV"
      - run: test "$LEVEL" = from-file
      - name: A step's working-directory beats the default
        working-directory: app/other
        run: test "$(basename "$PWD")" = other
"""
    )
    repo.commit()
    outcome = cairn()
    assert outcome.exit_code == 0, log_of(outcome.job("env"))
    assert [s["conclusion"] for s in outcome.job("env")["steps"]] == ["success"] * 6


def test_each_job_starts_in_an_empty_workspace_and_checks_out_head(
    repo: Repo, cairn: RunCairn
) -> None:
    repo.write("VERSION", "1.0\n")
    repo.workflow(
        """
on: push
jobs:
  first:
    runs-on: ubuntu-latest
    steps:
      - run: test -z "$(ls -A)" && echo empty
      - uses: actions/checkout@v4
      - run: cat VERSION && echo scratch > build.out
  second:
    needs: first
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: |
          test ! -e build.out
          test "$(cat VERSION)" = 1.0
          test "$(git rev-parse HEAD)" = "$GITHUB_SHA"
          echo "workspace $GITHUB_WORKSPACE"
"""
    )
    repo.commit()
    repo.write("VERSION", "2.0-uncommitted\n")
    outcome = cairn()
    assert outcome.exit_code == 0, log_of(outcome.job("second"))
    assert "[first] empty" in outcome.stdout
    assert "[first] 1.0" in outcome.stdout
    assert "uncommitted change(s) are not part of the run" in outcome.stdout
    assert "/workspaces/ci.yml/second/hello-world" in outcome.stdout


def test_github_context_comes_from_the_repository(repo: Repo, cairn: RunCairn) -> None:
    repo.workflow(
        """
name: Context
on: push
jobs:
  show:
    runs-on: ubuntu-latest
    steps:
      - run: |
          echo "repository=${{ github.repository }} owner=${{ github.repository_owner }}"
          echo "ref=${{ github.ref }} ref_name=$GITHUB_REF_NAME sha=${{ github.sha }}"
          echo "actor=${{ github.actor }} event=${{ github.event_name }}"
          echo "run=${{ github.run_id }}/${{ github.run_number }}/${{ github.run_attempt }}"
          echo "head=${{ github.event.head_commit.message }}"
          grep -o '"ref": "[^"]*"' "$GITHUB_EVENT_PATH"
"""
    )
    sha = repo.commit("Add the context workflow")
    outcome = cairn()
    assert outcome.exit_code == 0, outcome.stdout
    assert outcome.summary is not None
    run_id = outcome.summary["run_id"]
    out = outcome.stdout
    assert "[show] repository=octo-org/hello-world owner=octo-org" in out
    assert f"[show] ref=refs/heads/main ref_name=main sha={sha}" in out
    assert "[show] actor=Mona Lisa event=push" in out
    assert f"[show] run={run_id}/1/1" in out
    assert "[show] head=Add the context workflow" in out
    assert '[show] "ref": "refs/heads/main"' in out
    # the next run gets the next run number
    again = cairn()
    assert "/2/1" in again.stdout


def test_secrets_are_masked_and_vars_and_inputs_reach_the_jobs(repo: Repo, cairn: RunCairn) -> None:
    repo.workflow(
        """
on:
  workflow_dispatch:
    inputs:
      environment:
        type: choice
        options: [staging, production]
        required: true
      dry-run:
        type: boolean
        default: true
      replicas:
        type: number
        default: 2
jobs:
  deploy:
    runs-on: ubuntu-latest
    steps:
      - env:
          TOKEN: ${{ secrets.DEPLOY_TOKEN }}
        run: |
          echo "token is $TOKEN"
          echo "region ${{ vars.REGION }}"
          echo "to ${{ inputs.environment }} dry=${{ inputs.dry-run }} n=${{ inputs.replicas }}"
          echo "typed: ${{ inputs.dry-run == false }} ${{ inputs.replicas == 3 }}"
          echo "event: ${{ github.event.inputs.dry-run }}"
"""
    )
    repo.commit()
    outcome = cairn(
        event="workflow_dispatch",
        secrets=("DEPLOY_TOKEN=s3cr3t-value",),
        vars=("REGION=eu-west-1",),
        inputs=("environment=production", "dry-run=false", "replicas=3"),
    )
    assert outcome.exit_code == 0, outcome.stdout
    assert "s3cr3t-value" not in outcome.stdout
    assert "[deploy] token is ***" in outcome.stdout
    assert "[deploy] region eu-west-1" in outcome.stdout
    assert "[deploy] to production dry=false n=3" in outcome.stdout
    assert "[deploy] typed: true true" in outcome.stdout
    assert "[deploy] event: false" in outcome.stdout
    assert "s3cr3t-value" not in log_of(outcome.job("deploy"))


def test_secrets_are_never_written_to_disk(repo: Repo, cairn: RunCairn) -> None:
    """Every place a secret can travel to: step names, step and job outputs,
    GITHUB_ENV, summaries, annotations, github.token; none of it reaches the
    run's files (checkpoint, manifest, journal, logs), and a resume asks for
    the values again."""
    repo.workflow(
        """
on: push
jobs:
  deploy:
    runs-on: ubuntu-latest
    outputs:
      leaked: ${{ steps.s.outputs.value }}
    steps:
      - id: s
        name: Deploy with ${{ secrets.DEPLOY_TOKEN }}
        run: |
          echo "value=${{ secrets.DEPLOY_TOKEN }}" >> "$GITHUB_OUTPUT"
          echo "FROM_ENV=${{ secrets.DEPLOY_TOKEN }}" >> "$GITHUB_ENV"
          echo "### ${{ secrets.DEPLOY_TOKEN }}" >> "$GITHUB_STEP_SUMMARY"
          echo "::warning title=${{ secrets.DEPLOY_TOKEN }}::${{ github.token }}"
      - run: |
          test "${{ steps.s.outputs.value }}" = "$FROM_ENV"
          test "${{ github.token }}" = "${{ secrets.GITHUB_TOKEN }}"
          test -n "${{ github.token }}"
          echo "the token: ${{ github.token }}"
"""
    )
    repo.commit()
    values = ("dep-s3cr3t-42", "ghs_t0ken-99")
    outcome = cairn(secrets=(f"DEPLOY_TOKEN={values[0]}", f"GITHUB_TOKEN={values[1]}"))
    assert outcome.exit_code == 0, outcome.stdout
    job = outcome.job("deploy")
    assert job["steps"][0]["name"] == "Deploy with ***"
    assert job["outputs"] == {}  # GitHub drops a job output holding a secret
    assert "[deploy] the token: ***" in outcome.stdout
    run_dir = repo.path / ".cairn" / outcome.summary["run_id"]  # type: ignore[index]
    written = [p for p in run_dir.rglob("*") if p.is_file()]
    assert {p.name for p in written} >= {"run.json", "state.json", "results.jsonl"}
    for path in written:
        text = path.read_bytes()
        for value in values:
            assert value.encode() not in text, f"{value} written to {path}"
    assert values[0] not in outcome.stdout and values[1] not in outcome.stdout


def test_only_triggered_workflows_run_and_skipped_ones_say_why(repo: Repo, cairn: RunCairn) -> None:
    repo.workflow(
        "on:\n  push:\n    branches: [main]\njobs:\n  a:\n    runs-on: ubuntu-latest\n"
        "    steps: [{run: echo on-push}]\n",
        name="push.yml",
    )
    repo.workflow(
        "on: pull_request\njobs:\n  b:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo 'pr ${{ github.head_ref }} into ${{ github.base_ref }}'\n",
        name="pr.yml",
    )
    repo.workflow(
        "on:\n  push:\n    branches: [release/**]\njobs:\n  c:\n    runs-on: ubuntu-latest\n"
        "    steps: [{run: echo release}]\n",
        name="release.yml",
    )
    repo.commit()
    outcome = cairn(json=True)
    assert outcome.exit_code == 0
    assert outcome.summary is not None
    assert [w["key"] for w in outcome.summary["workflows"]] == ["push.yml"]
    skipped = {Path(s["path"]).name: s["reason"] for s in outcome.summary["skipped_workflows"]}
    assert "does not run on 'push'" in skipped["pr.yml"]
    assert "'main' does not match release/**" in skipped["release.yml"]
    assert "Skipped .github/workflows/pr.yml" in outcome.stderr

    pull = cairn(event="pull_request")
    assert pull.exit_code == 0
    assert "[b] pr main into main" in pull.stdout

    nothing = cairn(event="issues")
    assert nothing.exit_code == 0
    assert "Nothing to run" in nothing.stdout


def test_job_runs_a_job_and_what_it_needs(repo: Repo, cairn: RunCairn) -> None:
    repo.workflow(
        """
on: push
jobs:
  setup: {runs-on: ubuntu-latest, steps: [{run: echo setup}]}
  build: {needs: setup, runs-on: ubuntu-latest, steps: [{run: echo build}]}
  docs: {runs-on: ubuntu-latest, steps: [{run: echo docs}]}
  test: {needs: build, runs-on: ubuntu-latest, steps: [{run: echo test}]}
"""
    )
    repo.commit()
    outcome = cairn(job="build")
    assert outcome.exit_code == 0
    assert outcome.conclusions() == {"setup": "success", "build": "success"}


def test_concurrency_group_serialises_workflows_of_one_run(
    repo: Repo, cairn: RunCairn, tmp_path: Path
) -> None:
    journal = tmp_path / "journal"
    for name in ("one", "two"):
        repo.workflow(
            f"""
name: deploy-{name}
on: push
jobs:
  deploy:
    runs-on: ubuntu-latest
    concurrency: production
    steps:
      - run: |
          echo "start {name}" >> {journal}
          sleep 0.3
          echo "end {name}" >> {journal}
""",
            name=f"{name}.yml",
        )
    repo.commit()
    outcome = cairn(max_parallel=4)
    assert outcome.exit_code == 0, outcome.stdout
    lines = journal.read_text().split("\n")[:4]
    assert [line.split()[0] for line in lines] == ["start", "end", "start", "end"]
    assert lines[0].split()[1] == lines[1].split()[1]
    assert "[deploy-one / deploy]" in outcome.stdout


def test_max_parallel_bounds_the_jobs_running_at_once(
    repo: Repo, cairn: RunCairn, tmp_path: Path
) -> None:
    journal = tmp_path / "journal"
    jobs = "\n".join(
        f"  j{n}:\n    runs-on: ubuntu-latest\n    steps:\n"
        f"      - run: echo + >> {journal}; sleep 0.15; echo - >> {journal}"
        for n in range(6)
    )
    repo.workflow(f"on: push\njobs:\n{jobs}\n")
    repo.commit()
    outcome = cairn(max_parallel=2)
    assert outcome.exit_code == 0
    running = peak = 0
    for mark in journal.read_text().split():
        running += 1 if mark == "+" else -1
        peak = max(peak, running)
    assert peak == 2


def test_unsupported_actions_fail_their_step_clearly(repo: Repo, cairn: RunCairn) -> None:
    repo.workflow(
        """
on: push
jobs:
  setup:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/setup-python@v5
        with:
          python-version: "3.12"
"""
    )
    repo.commit()
    outcome = cairn()
    assert outcome.exit_code == 1
    assert "action actions/setup-python@v5 is not supported yet" in log_of(outcome.job("setup"))


def test_a_matrix_computed_by_an_earlier_job(repo: Repo, cairn: RunCairn) -> None:
    repo.workflow(
        """
on: push
jobs:
  plan:
    runs-on: ubuntu-latest
    outputs:
      shards: ${{ steps.s.outputs.shards }}
    steps:
      - id: s
        run: echo 'shards={"shard":["api","web","cli"]}' >> "$GITHUB_OUTPUT"
  test:
    needs: plan
    runs-on: ubuntu-latest
    strategy:
      matrix: ${{ fromJSON(needs.plan.outputs.shards) }}
    steps:
      - run: |
          echo "testing ${{ matrix.shard }} (${{ strategy.job-index }}/${{ strategy.job-total }})"
"""
    )
    repo.commit()
    outcome = cairn()
    assert outcome.exit_code == 0, outcome.stdout
    assert outcome.summary is not None
    assert [(j["key"], j["name"], j["matrix"]) for j in outcome.summary["jobs"][1:]] == [
        ("test.0", "test (api)", {"shard": "api"}),
        ("test.1", "test (web)", {"shard": "web"}),
        ("test.2", "test (cli)", {"shard": "cli"}),
    ]
    assert "[test (web)] testing web (1/3)" in outcome.stdout
