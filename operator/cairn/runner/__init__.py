"""The step runner: runs one job's steps inside a sandbox.

In production it is the entrypoint of a Kubernetes Job pod (``cairn runner``);
locally the ``cairn run`` executor calls :func:`run_job` with a workspace
directory per job. Both get one :class:`~cairn.engine.jobspec.JobResult` back.
"""

from cairn.runner.checkout import CheckoutSource
from cairn.runner.clock import Clock, SystemClock
from cairn.runner.errors import RunnerError
from cairn.runner.job import run_job
from cairn.runner.logsink import (
    CallbackSink,
    FileSink,
    LogRecord,
    LogSink,
    MemorySink,
    StreamSink,
    TeeSink,
    format_record,
)
from cairn.runner.settings import RunnerSettings
from cairn.runner.termination import (
    TERMINATION_MESSAGE_LIMIT,
    decode_termination_message,
    encode_termination_message,
)

__all__ = [
    "TERMINATION_MESSAGE_LIMIT",
    "CallbackSink",
    "CheckoutSource",
    "Clock",
    "FileSink",
    "LogRecord",
    "LogSink",
    "MemorySink",
    "RunnerError",
    "RunnerSettings",
    "StreamSink",
    "SystemClock",
    "TeeSink",
    "decode_termination_message",
    "encode_termination_message",
    "format_record",
    "run_job",
]
