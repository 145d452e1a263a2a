"""``cairn run``: Cairn's embedded default.

The same engine as the operator (``cairn.engine.decide``), with the step
runner executing jobs in this process and a checkpoint file instead of a
cluster: ``run(RunOptions(...))`` in-process, ``cairn run`` on the command
line. See ``docs/local.md``.
"""

from cairn.local.cli import RunReport, run
from cairn.local.session import RunOptions

__all__ = ["RunOptions", "RunReport", "run"]
