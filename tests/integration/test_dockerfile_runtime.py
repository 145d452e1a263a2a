"""The Dockerfile's ``runtime`` stage, run here without Docker.

No Docker engine is at hand, so the stage's script — the relocatable Python
that sandboxes with a ``container:`` image receive — is taken from the
Dockerfile as written and run with this machine's Python in place of the
image's ``/usr/local`` (the same layout: a shared libpython, ``bin/`` and
``lib/python3.X``). Then, as the ``check`` stage does on a bare Debian, the
result must run from its own prefix with an empty environment, load its own
libpython, bundle every shared library it needs but glibc's, and run a job's
steps with ``cairn runner``, as a sandbox with a ``container:`` image does.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from cairn.engine.testing import EngineHarness, make_run
from cairn.runner.termination import decode_termination_message

ROOT = Path(__file__).resolve().parents[2]
JOB = """
on: push
jobs:
  hello:
    runs-on: ubuntu-latest
    outputs:
      greeting: ${{ steps.say.outputs.greeting }}
    steps:
      - id: say
        run: echo "greeting=hi" >> "$GITHUB_OUTPUT"
"""
GLIBC = re.compile(r"^(libc|libm|libdl|libpthread|librt|libutil)\.so|^ld-linux")

pytestmark = [
    pytest.mark.skipif(shutil.which("patchelf") is None, reason="patchelf is not installed"),
    pytest.mark.skipif(shutil.which("ldd") is None, reason="ldd is not available"),
    pytest.mark.skipif(
        not sysconfig.get_config_var("Py_ENABLE_SHARED"),
        reason="this Python has no shared libpython, unlike the image's",
    ),
]


def runtime_script(prefix: Path) -> str:
    """The runtime stage's RUN script, pointed at this machine's Python and checkout."""
    text = (ROOT / "Dockerfile").read_text()
    start = text.index("FROM python:3.11-slim-bullseye AS runtime")
    body_start = text.index("RUN <<'EOF'\n", start) + len("RUN <<'EOF'\n")
    script = text[body_start : text.index("\nEOF\n", body_start)]
    python_prefix = sys.base_prefix
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    return (
        script.replace("prefix=/opt/cairn", f"prefix={prefix}")
        .replace("version=3.11", f"version={version}")
        .replace("/usr/local/bin", f"{python_prefix}/bin")
        .replace("/usr/local/lib", f"{python_prefix}/lib")
        .replace(" /src", f" {ROOT}")
    )


def test_the_runtime_stage_builds_a_self_contained_python(tmp_path: Path) -> None:
    prefix = tmp_path / "opt" / "cairn"
    build = subprocess.run(
        ["bash", "-c", runtime_script(prefix)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    assert build.returncode == 0, build.stderr[-3000:]
    bare = {"PATH": "/usr/bin:/bin"}
    version = subprocess.run(
        [str(prefix / "bin" / "cairn"), "--version"], capture_output=True, text=True, env=bare
    )
    assert version.returncode == 0 and version.stdout.startswith("cairn "), version.stderr
    # the sandbox entrypoint, without the operator's extras (kopf, aiohttp, orjson...)
    runner = subprocess.run(
        [str(prefix / "bin" / "cairn"), "runner", "--help"],
        capture_output=True,
        text=True,
        env=bare,
    )
    assert runner.returncode == 0 and "runner" in runner.stdout, runner.stderr
    # ... and runs a job's steps there, as in a sandbox with a `container:` image
    spec = EngineHarness(make_run(JOB)).spec("hello")
    (tmp_path / "spec.json").write_text(spec.model_dump_json())
    (tmp_path / "workspace").mkdir()
    job = subprocess.run(
        [
            str(prefix / "bin" / "cairn"),
            "runner",
            "--spec",
            str(tmp_path / "spec.json"),
            "--result",
            str(tmp_path / "result.json"),
            "--workspace",
            str(tmp_path / "workspace"),
            "--callback",
            "never",
        ],
        capture_output=True,
        text=True,
        env=bare,
        timeout=120,
    )
    assert job.returncode == 0, job.stdout + job.stderr
    result = decode_termination_message((tmp_path / "result.json").read_text())
    assert result.conclusion == "success" and result.outputs == {"greeting": "hi"}
    probe = subprocess.run(
        [
            str(prefix / "bin" / "python3"),
            "-c",
            "import sys, ssl, hashlib, json, subprocess, cairn.runner; "
            "hashlib.sha256(b'x'); print(sys.prefix)",
        ],
        capture_output=True,
        text=True,
        env=bare,
    )
    assert probe.returncode == 0, probe.stderr
    assert Path(probe.stdout.strip()) == prefix
    interpreter = next((prefix / "bin").glob("python3.*"))
    binaries = [interpreter, *(prefix / "lib").glob("python3.*/lib-dynload/*.so")]
    for binary in binaries:
        for line in subprocess.run(
            ["ldd", str(binary)], capture_output=True, text=True
        ).stdout.splitlines():
            match = re.match(r"\s*(\S+) => (/\S+)", line)
            if match is None or GLIBC.match(match.group(1)):
                continue
            assert Path(match.group(2)).resolve().is_relative_to(prefix), (binary.name, line)
    assert not list((prefix / "bin").glob("pip*"))  # pip is gone from the runtime
