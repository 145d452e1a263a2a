"""run_job on real shell steps: files, env, contexts, conditions, outcomes."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cairn.engine.jobspec import JobSpec
from cairn.runner.settings import RunnerSettings

Spec = Callable[..., JobSpec]


async def test_outputs_flow_to_steps_context_and_job_outputs(spec: Spec, run: Any) -> None:
    s = spec(
        [
            {
                "id": "meta",
                "run": 'echo "version=1.2.3" >> "$GITHUB_OUTPUT"\n'
                "{ echo 'notes<<EOF_NOTES'; echo line one; echo line two; echo EOF_NOTES; }"
                ' >> "$GITHUB_OUTPUT"',
            },
            {"id": "use", "run": 'echo "got ${{ steps.meta.outputs.version }}"'},
        ],
        job={
            "outputs": {
                "version": "${{ steps.meta.outputs.version }}",
                "notes": "${{ steps.meta.outputs.notes }}",
                "outcome": "${{ steps.use.outcome }}",
            }
        },
    )
    result, sink = await run(s)
    assert result.conclusion == "success"
    assert result.steps[0].outputs == {"version": "1.2.3", "notes": "line one\nline two"}
    assert result.outputs == {
        "version": "1.2.3",
        "notes": "line one\nline two",
        "outcome": "success",
    }
    assert "got 1.2.3" in sink.output(step=1)


async def test_job_outputs_are_evaluated_when_the_job_failed(spec: Spec, run: Any) -> None:
    s = spec(
        [
            {"id": "a", "run": 'echo "partial=yes" >> "$GITHUB_OUTPUT"; exit 1'},
            {"id": "b", "run": "echo never"},
        ],
        job={
            "outputs": {"partial": "${{ steps.a.outputs.partial }}", "b": "${{ steps.b.outcome }}"}
        },
    )
    result, _ = await run(s)
    assert result.conclusion == "failure"
    assert result.reason == "step_failed"
    assert result.outputs == {"partial": "yes", "b": "skipped"}
    assert [st.outcome for st in result.steps] == ["failure", "skipped"]


async def test_github_env_and_path_apply_to_later_steps(
    spec: Spec, run: Any, tmp_path: Path
) -> None:
    tools = tmp_path / "tools"
    s = spec(
        [
            {
                "run": f"mkdir -p {tools}\n"
                f"printf '#!/bin/sh\\necho tool ran\\n' > {tools}/mytool\n"
                f"chmod +x {tools}/mytool\n"
                f'echo "{tools}" >> "$GITHUB_PATH"\n'
                'echo "GREETING=hello" >> "$GITHUB_ENV"\n'
                '{ echo "MULTI<<END"; echo a; echo b; echo END; } >> "$GITHUB_ENV"\n'
                'echo "NODE_OPTIONS=--require evil.js" >> "$GITHUB_ENV"'
            },
            {
                "if": "env.GREETING == 'hello'",
                "run": 'mytool; echo "$GREETING/${{ env.GREETING }}"; echo "$MULTI" | wc -l;'
                ' echo "node=${NODE_OPTIONS:-unset}"',
            },
        ]
    )
    result, sink = await run(s)
    assert result.conclusion == "success"
    out = sink.output(step=1)
    assert out[:2] == ["tool ran", "hello/hello"]
    assert out[2].strip() == "2"
    assert out[3] == "node=unset"
    blocked = [a for a in result.annotations if "NODE_OPTIONS" in a.message]
    assert blocked and blocked[0].level == "error"
    assert result.steps[0].conclusion == "success"  # GitHub reports it but does not fail


async def test_default_environment_variables(
    spec: Spec, run: Any, workspace: Path, tmp_path: Path
) -> None:
    dump = tmp_path / "env.json"
    s = spec(
        [
            {"run": "true"},
            {
                "id": "show",
                "run": f"import json, os\njson.dump(dict(os.environ), open({str(dump)!r}, 'w'))",
                "shell": "python",
                "env": {"GITHUB_SHA": "overridden", "CI": "custom"},
            },
        ]
    )
    temp = tmp_path / "runner-temp"
    result, _ = await run(s, temp_dir=temp)
    assert result.conclusion == "success", result.annotations
    env = json.loads(dump.read_text())
    assert env["CI"] == "custom"  # CI may be overridden, GITHUB_* may not
    assert env["GITHUB_SHA"] == "0123456789abcdef0123456789abcdef01234567"
    assert env["GITHUB_ACTIONS"] == "true"
    assert env["GITHUB_WORKSPACE"] == str(workspace.resolve())
    assert env["GITHUB_REF"] == "refs/heads/main"
    assert env["GITHUB_REF_NAME"] == "main"
    assert env["GITHUB_REPOSITORY"] == "octo-org/hello"
    assert env["GITHUB_RUN_ID"] == "4242"
    assert env["GITHUB_RUN_NUMBER"] == "7"
    assert env["GITHUB_JOB"] == "build"
    assert env["GITHUB_WORKFLOW"] == "CI"
    assert env["GITHUB_EVENT_NAME"] == "push"
    assert env["GITHUB_ACTION"] == "show"
    assert env["RUNNER_TEMP"] == str(temp.resolve())
    assert env["RUNNER_OS"] == "Linux"
    assert env["RUNNER_NAME"] == "test-runner"
    assert env["RUNNER_ARCH"] in ("X64", "ARM64", "ARM", "X86")
    assert env["HOME"] == os.environ["HOME"]
    event = json.loads(Path(env["GITHUB_EVENT_PATH"]).read_text())
    assert event["pusher"]["name"] == "octocat"
    for var in (
        "GITHUB_OUTPUT",
        "GITHUB_ENV",
        "GITHUB_PATH",
        "GITHUB_STATE",
        "GITHUB_STEP_SUMMARY",
    ):
        assert env[var].startswith(str(temp.resolve()))


async def test_github_action_names_steps_without_id(spec: Spec, run: Any) -> None:
    s = spec([{"run": 'echo "$GITHUB_ACTION"'}, {"run": 'echo "$GITHUB_ACTION"'}])
    _, sink = await run(s)
    assert sink.output() == ["__run", "__run_2"]


async def test_env_layering_workflow_job_step(spec: Spec, run: Any) -> None:
    s = spec(
        [
            {"id": "first", "run": 'echo "x=from-step" >> "$GITHUB_OUTPUT"'},
            {
                "run": 'echo "$LEVEL $WF $JOBV $TOKEN_LEN $FROM_STEPS $COMBINED"',
                "env": {
                    "LEVEL": "step",
                    "FROM_STEPS": "${{ steps.first.outputs.x }}",
                    "COMBINED": "${{ env.JOBV }}+${{ env.LEVEL }}",
                },
            },
            {"run": 'echo "$LEVEL"'},
        ],
        workflow_env={"LEVEL": "workflow", "WF": "wf-${{ github.ref_name }}"},
        job={
            "env": {
                "LEVEL": "job",
                "JOBV": "${{ matrix.os }}",
                "TOKEN_LEN": "${{ secrets.TOKEN != '' }}",
            }
        },
        contexts={"matrix": {"os": "ubuntu-latest"}},
    )
    result, sink = await run(s, secrets={"TOKEN": "t0k3n-value"})
    assert result.conclusion == "success", result.annotations
    # a step's env entries see the job's env, not each other
    assert sink.output(step=1) == ["step wf-main ubuntu-latest true from-step ubuntu-latest+job"]
    assert sink.output(step=2) == ["job"]


async def test_defaults_run_shell_and_working_directory(
    spec: Spec, run: Any, workspace: Path
) -> None:
    (workspace / "app" / "sub").mkdir(parents=True)
    s = spec(
        [
            {"run": 'echo "$0" | grep -q sh && pwd'},
            {"run": "pwd", "working-directory": "app/sub"},
            {"run": "import os; print(os.getcwd())", "shell": "python"},
            {"run": "echo $BASH_VERSION | grep -q . && echo bash", "shell": "bash"},
        ],
        workflow_defaults={"shell": "sh", "working-directory": "ignored"},
        job={"defaults": {"working-directory": "app"}},
    )
    result, sink = await run(s)
    assert result.conclusion == "success", result.annotations
    root = workspace.resolve()
    assert sink.output(step=0) == [str(root / "app")]
    assert sink.output(step=1) == [str(root / "app" / "sub")]
    assert sink.output(step=2) == [str(root / "app")]
    assert sink.output(step=3) == ["bash"]


async def test_missing_working_directory_fails_the_step(
    spec: Spec, run: Any, tmp_path: Path
) -> None:
    temp = tmp_path / "runner-temp"
    result, _ = await run(spec([{"run": "true", "working-directory": "nope"}]), temp_dir=temp)
    assert result.steps[0].outcome == "failure"
    assert "with working directory" in result.annotations[0].message
    assert list(temp.glob("*.sh")) == []  # the script it would have run is gone


async def test_default_shell_has_no_pipefail_but_bash_does(spec: Spec, run: Any) -> None:
    s = spec(
        [
            {"id": "default", "run": "false | true"},
            {"id": "bash", "run": "false | true", "shell": "bash", "continue-on-error": True},
        ]
    )
    result, _ = await run(s)
    assert result.steps[0].outcome == "success"
    assert result.steps[1].outcome == "failure"


async def test_custom_shell_template(spec: Spec, run: Any) -> None:
    s = spec([{"run": 'print "perl says hi\\n";', "shell": "perl {0}"}])
    result, sink = await run(s)
    assert result.conclusion == "success", result.annotations
    assert sink.output() == ["perl says hi"]


async def test_conditions_and_status_functions(spec: Spec, run: Any) -> None:
    s = spec(
        [
            {"id": "ok", "run": "true"},
            {"id": "bad", "run": "exit 2"},
            {"id": "skipped", "run": "echo no"},
            {"id": "on_failure", "if": "failure()", "run": "echo failure-handler"},
            {
                "id": "by_outcome",
                "if": "${{ failure() && steps.bad.outcome == 'failure' }}",
                "run": "true",
            },
            {"id": "always", "if": "always()", "run": "echo always"},
            {"id": "not_cancelled", "if": "!cancelled()", "run": "true"},
            {"id": "success_only", "if": "success()", "run": "true"},
            {"id": "plain_true", "if": "github.ref == 'refs/heads/main'", "run": "true"},
        ]
    )
    result, _ = await run(s)
    outcomes = {st.id: st.outcome for st in result.steps}
    assert outcomes == {
        "ok": "success",
        "bad": "failure",
        "skipped": "skipped",
        "on_failure": "success",
        "by_outcome": "success",
        "always": "success",
        "not_cancelled": "success",
        "success_only": "skipped",
        "plain_true": "skipped",  # no status function: success() && (...)
    }
    assert result.conclusion == "failure"
    assert "Process completed with exit code 2." in [a.message for a in result.annotations]


async def test_continue_on_error_literal_and_expression(spec: Spec, run: Any) -> None:
    s = spec(
        [
            {"id": "flaky", "run": "exit 1", "continue-on-error": True},
            {"id": "exp", "run": "exit 1", "continue-on-error": "${{ matrix.experimental }}"},
            {"id": "next", "run": "true"},
        ],
        job={"outputs": {"o": "${{ steps.flaky.outcome }}/${{ steps.flaky.conclusion }}"}},
        contexts={"matrix": {"experimental": True}},
    )
    result, _ = await run(s)
    assert [(st.outcome, st.conclusion) for st in result.steps] == [
        ("failure", "success"),
        ("failure", "success"),
        ("success", "success"),
    ]
    assert result.conclusion == "success"
    assert result.outputs == {"o": "failure/success"}


async def test_step_timeout_fails_the_step(spec: Spec, run: Any) -> None:
    s = spec(
        [
            {"id": "slow", "run": "sleep 30", "timeout-minutes": 0.005},
            {
                "id": "tolerated",
                "run": "sleep 30",
                "timeout-minutes": "${{ 0.005 }}",
                "continue-on-error": True,
            },
        ]
    )
    result, _ = await run(s)
    assert result.steps[0].outcome == "failure"
    assert result.steps[1].outcome == "skipped"
    assert any("has timed out after 0.005 minutes" in a.message for a in result.annotations)


async def test_bad_timeout_value_fails_clearly(spec: Spec, run: Any) -> None:
    result, _ = await run(spec([{"run": "true", "timeout-minutes": "${{ 'soon' }}"}]))
    assert result.steps[0].outcome == "failure"
    assert "expected a number of minutes" in result.annotations[0].message


async def test_expression_errors_fail_the_step_with_a_clear_message(spec: Spec, run: Any) -> None:
    s = spec(
        [
            {"id": "syntax", "run": "echo ${{ github.ref == }}", "continue-on-error": True},
            {
                "id": "env",
                "run": "true",
                "env": {"X": "${{ fromJSON('not json') }}"},
                "continue-on-error": True,
            },
            {"id": "cond", "if": "secrets.TOKEN != ''", "run": "true"},
        ]
    )
    result, _ = await run(s)
    messages = [a.message for a in result.annotations]
    assert result.steps[0].outcome == "failure"
    assert "the script of step" in messages[0] and "1:" in messages[0]
    assert "env 'X'" in messages[1]
    assert "'if'" in messages[2] and "secrets" in messages[2]
    assert result.steps[2].outcome == "failure"


async def test_unsupported_actions_fail_and_never_succeed_silently(spec: Spec, run: Any) -> None:
    s = spec(
        [
            {"uses": "actions/setup-python@v5", "with": {"python-version": "3.12"}},
            {"run": "echo after"},
        ]
    )
    result, sink = await run(s)
    assert result.steps[0].outcome == "failure"
    assert result.annotations[0].message == "action actions/setup-python@v5 is not supported yet"
    assert result.steps[1].outcome == "skipped"
    assert sink.output() == []


async def test_missing_shell_fails_the_step(spec: Spec, run: Any) -> None:
    result, _ = await run(
        spec([{"run": "Write-Output hi", "shell": "pwsh"}]), base_env={"PATH": "/nonexistent"}
    )
    assert result.steps[0].outcome == "failure"
    assert "'pwsh' was not found in PATH" in result.annotations[0].message


async def test_secrets_are_masked_everywhere(spec: Spec, run: Any) -> None:
    key = "-----BEGIN-----\nAAAsecretline\n-----END-----"
    s = spec(
        [
            {
                "id": "leak",
                "run": 'echo "token=$TOKEN"\necho "$KEY"\n'
                "echo '::add-mask::dynamic-value-42'\necho dynamic-value-42\n"
                'echo "::warning title=$TOKEN::warn $TOKEN"\n'
                'echo "::error file=src/$TOKEN.py,line=1::in a file"\n'
                'echo "# summary $TOKEN" >> "$GITHUB_STEP_SUMMARY"\n'
                'echo "out=$TOKEN" >> "$GITHUB_OUTPUT"',
                "env": {"TOKEN": "${{ secrets.TOKEN }}", "KEY": "${{ secrets.KEY }}"},
            }
        ],
        job={"outputs": {"leaked": "${{ steps.leak.outputs.out }}", "fine": "ok"}},
    )
    result, sink = await run(s, secrets={"TOKEN": "sup3r-s3cret", "KEY": key})
    text = "\n".join(sink.lines)
    assert "sup3r-s3cret" not in text and "AAAsecretline" not in text
    # (the script header shows it: it is printed before the step masks it)
    assert "dynamic-value-42" not in "\n".join(sink.output())
    # every line of a multi-line secret is masked on its own
    assert sink.output() == ["token=***", "***", "***", "***", "***"]
    assert "***" in (result.steps[0].summary or "")
    warning = next(a for a in result.annotations if a.level == "warning" and a.title)
    assert warning.title == "***" and warning.message == "warn ***"
    located = next(a for a in result.annotations if a.message == "in a file")
    assert located.file == "src/***.py"
    # GitHub refuses to pass on a job output holding a secret
    assert result.outputs == {"fine": "ok"}
    assert any("Skip output 'leaked'" in a.message for a in result.annotations)
    # the result leaves the sandbox (checkpoint, CR status): a step output
    # holding a secret is masked there too
    assert result.steps[0].outputs == {"out": "***"}


async def test_step_summary_is_collected_and_limited(
    spec: Spec, run: Any, settings: RunnerSettings
) -> None:
    s = spec(
        [
            {
                "run": 'echo "## Results" >> "$GITHUB_STEP_SUMMARY"\n'
                'echo "- ok" >> "$GITHUB_STEP_SUMMARY"'
            },
            {"run": 'head -c 3000 /dev/zero | tr "\\0" x >> "$GITHUB_STEP_SUMMARY"'},
        ]
    )
    small = RunnerSettings(**{**settings.__dict__, "max_summary_bytes": 2048})
    result, _ = await run(s, settings_=small)
    assert result.steps[0].summary == "## Results\n- ok\n"
    assert result.steps[1].summary is None
    assert any("GITHUB_STEP_SUMMARY upload aborted" in a.message for a in result.annotations)


async def test_malformed_output_file_fails_the_step(spec: Spec, run: Any) -> None:
    result, _ = await run(spec([{"run": 'echo "broken line" >> "$GITHUB_OUTPUT"'}]))
    assert result.steps[0].outcome == "failure"
    assert [a.message for a in result.annotations] == [
        "Unable to process file command 'output' successfully.",
        "Invalid format 'broken line'",
    ]


async def test_workflow_commands_in_a_real_step(spec: Spec, run: Any) -> None:
    s = spec(
        [
            {
                "name": "Lint ${{ matrix.os }}",
                "run": "echo '::group::Details'\necho inside\necho '::endgroup::'\n"
                "echo '::error file=src/main.py,line=12,col=4::Unused import'\n"
                "echo '::notice::all done'",
            }
        ],
        contexts={"matrix": {"os": "linux"}},
    )
    result, sink = await run(s)
    assert result.steps[0].name == "Lint linux"
    assert result.steps[0].outcome == "success"  # ::error:: alone does not fail a step
    error = result.annotations[0]
    assert (error.file, error.line, error.column, error.step) == (
        "src/main.py",
        12,
        4,
        "Lint linux",
    )
    kinds = [r.kind for r in sink.records if r.step == 0]
    assert kinds.count("group") == 2 and kinds.count("endgroup") == 2
    assert "##[error]src/main.py:12:4: Unused import" in sink.lines


async def test_job_features_not_supported_fail_the_job(spec: Spec, run: Any) -> None:
    result, _ = await run(spec([{"run": "true"}], job={"container": {"image": "node:20"}}))
    assert result.conclusion == "failure"
    assert "job containers" in (result.reason or "")
    assert result.steps == ()


async def test_job_env_with_unavailable_context_fails_the_job(spec: Spec, run: Any) -> None:
    result, _ = await run(spec([{"run": "true"}], job={"env": {"X": "${{ steps.a.outputs.b }}"}}))
    assert result.conclusion == "failure"
    assert "job env 'X'" in (result.reason or "")


async def test_legacy_commands_in_real_steps(spec: Spec, run: Any) -> None:
    s = spec(
        [
            {"id": "old", "run": "echo '::set-output name=answer::42'"},
            {
                "run": "echo '::set-env name=LEGACY::yes'\necho '::add-path::/opt/legacy/bin'",
                "env": {"ACTIONS_ALLOW_UNSECURE_COMMANDS": "true"},
            },
            {"run": 'echo "$LEGACY ${{ steps.old.outputs.answer }}"; echo "$PATH" | cut -d: -f1'},
            {"id": "refused", "run": "echo '::set-env name=X::1'", "continue-on-error": True},
        ]
    )
    result, sink = await run(s)
    assert result.steps[0].outputs == {"answer": "42"}
    assert sink.output(step=2) == ["yes 42", "/opt/legacy/bin"]
    assert result.steps[3].outcome == "failure"
    assert any("`set-output` command is deprecated" in a.message for a in result.annotations)


async def test_step_debug_from_a_secret(spec: Spec, run: Any) -> None:
    s = spec([{"run": "echo '::debug::details'; echo \"debug=$RUNNER_DEBUG\""}])
    _, quiet_sink = await run(s)
    assert [r.kind for r in quiet_sink.records if r.kind == "debug"] == []
    assert quiet_sink.output() == ["debug="]
    _, loud_sink = await run(s, secrets={"ACTIONS_STEP_DEBUG": "true"})
    assert [r.text for r in loud_sink.records if r.kind == "debug"] == ["details"]
    assert loud_sink.output() == ["debug=1"]


async def test_hash_files_in_a_step_condition(spec: Spec, run: Any, workspace: Path) -> None:
    (workspace / "package-lock.json").write_text("{}")
    s = spec(
        [
            {"id": "has_lock", "if": "hashFiles('**/package-lock.json') != ''", "run": "true"},
            {"id": "no_lock", "if": "hashFiles('**/poetry.lock') != ''", "run": "true"},
        ]
    )
    result, _ = await run(s)
    assert [st.outcome for st in result.steps] == ["success", "skipped"]


async def test_a_step_name_rendered_from_a_secret_is_masked(spec: Spec, run: Any) -> None:
    s = spec([{"name": "Deploy as ${{ secrets.USER }}", "run": "exit 1"}])
    result, sink = await run(s, secrets={"USER": "robot-account-7"})
    assert result.steps[0].name == "Deploy as ***"
    assert {a.step for a in result.annotations} == {"Deploy as ***"}
    assert {r.step_name for r in sink.records if r.step is not None} == {"Deploy as ***"}
    assert not any("robot-account-7" in line for line in sink.lines)


async def test_each_step_gets_empty_command_files(spec: Spec, run: Any) -> None:
    s = spec(
        [
            {
                "id": "first",
                "run": 'echo "a=1" >> "$GITHUB_OUTPUT"; echo "X=1" >> "$GITHUB_ENV"\n'
                'echo "# first" >> "$GITHUB_STEP_SUMMARY"; echo "$GITHUB_OUTPUT"',
            },
            {
                "id": "second",
                "run": 'test ! -s "$GITHUB_OUTPUT" && test ! -s "$GITHUB_ENV"\n'
                'test ! -s "$GITHUB_STEP_SUMMARY"; echo "b=2" >> "$GITHUB_OUTPUT"\n'
                'rm "$GITHUB_OUTPUT" "$GITHUB_ENV"',
            },
            {"id": "third", "run": 'test -f "$GITHUB_OUTPUT" && test -f "$GITHUB_ENV"; echo "$X"'},
        ]
    )
    result, sink = await run(s)
    assert result.conclusion == "success", result.annotations
    assert [st.outputs for st in result.steps] == [{"a": "1"}, {}, {}]
    assert [st.summary for st in result.steps] == ["# first\n", None, None]
    assert sink.output(step=2) == ["1"]


async def test_a_shell_installed_by_an_earlier_step_is_found(
    spec: Spec, run: Any, tmp_path: Path
) -> None:
    tools = tmp_path / "tools"
    tools.mkdir()
    install = f"printf '#!/bin/sh\\nexec sh \"$@\"\\n' > {tools}/mysh\nchmod +x {tools}/mysh"
    s = spec(
        [
            {"id": "before", "run": "echo hi", "shell": "mysh {0}", "continue-on-error": True},
            {"run": install},
            {"id": "after", "run": "echo from mysh", "shell": "mysh {0}"},
        ]
    )
    path = f"{tools}{os.pathsep}{os.environ['PATH']}"
    result, sink = await run(s, base_env={**os.environ, "PATH": path})
    assert [st.outcome for st in result.steps] == ["failure", "success", "success"]
    assert "shell 'mysh' was not found in PATH" in result.annotations[0].message
    assert sink.output(step=2) == ["from mysh"]


async def test_state_file_and_stop_commands_in_real_steps(spec: Spec, run: Any) -> None:
    s = spec(
        [
            {
                "id": "state",
                "run": 'echo "pid=42" >> "$GITHUB_STATE"\n'
                '{ echo "notes<<END"; echo one; echo END; } >> "$GITHUB_STATE"',
            },
            {
                "id": "stopped",
                "run": "echo '::stop-commands::pause-7f3a'\n"
                "echo '::error::printed, not reported'\n"
                "echo '::pause-7f3a::'\n"
                "echo '::warning::reported again'",
            },
            {
                "id": "bad_state",
                "run": 'echo "not a pair" >> "$GITHUB_STATE"',
                "continue-on-error": True,
            },
        ]
    )
    result, sink = await run(s)
    assert [(st.outcome, st.conclusion) for st in result.steps] == [
        ("success", "success"),
        ("success", "success"),
        ("failure", "success"),
    ]
    assert "::error::printed, not reported" in sink.output(step=1)
    assert [(a.level, a.message) for a in result.annotations] == [
        ("warning", "reported again"),
        ("error", "Unable to process file command 'state' successfully."),
        ("error", "Invalid format 'not a pair'"),
    ]


async def test_a_reused_runner_temp_is_emptied_between_jobs(
    spec: Spec, run: Any, tmp_path: Path
) -> None:
    temp = tmp_path / "runner-temp"
    first = spec(
        [
            {
                "run": 'mkdir "$RUNNER_TEMP/cache"; echo data > "$RUNNER_TEMP/cache/file"\n'
                'echo "TOKEN=${{ secrets.TOKEN }}" >> "$GITHUB_ENV"\n'
                'echo "$GITHUB_ENV" > "$RUNNER_TEMP/../env-path"'
            }
        ]
    )
    result, _ = await run(first, temp_dir=temp, secrets={"TOKEN": "left-behind-7"})
    assert result.conclusion == "success", result.annotations
    # only the runner's own (empty) files are left for the next job
    assert sorted(p.name for p in temp.iterdir()) == ["_github_workflow", "_runner_file_commands"]
    env_file = Path((tmp_path / "env-path").read_text().strip())
    assert env_file.read_bytes() == b""
    # (the running step's own script is there too, as on GitHub)
    listing = 'ls -A "$RUNNER_TEMP" | grep -v "\\.sh$"'
    second = spec([{"run": f'{listing}; echo "[$TOKEN]"; echo "$GITHUB_ENV"'}])
    result, sink = await run(second, temp_dir=temp)
    assert result.conclusion == "success", result.annotations
    assert sink.output() == ["_github_workflow", "_runner_file_commands", "[]", str(env_file)]
