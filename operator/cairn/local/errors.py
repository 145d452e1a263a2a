"""Errors of ``cairn run``. Each one is something the user can fix; the CLI
prints the message and exits 2 (invalid input) unless said otherwise."""

from __future__ import annotations

from cairn.errors import CairnError


class LocalRunError(CairnError):
    """Base class of the local executor's errors."""


class InvalidInputError(LocalRunError):
    """A flag, payload, input or secret given to ``cairn run`` is unusable."""


class RepositoryError(LocalRunError):
    """The git repository the run is for cannot be read."""


class RunNotFoundError(InvalidInputError):
    """``--resume`` names a run the state directory does not hold."""


class RunStoreError(LocalRunError):
    """A run's directory is unreadable or its files are corrupt."""


class RunLockedError(LocalRunError):
    """Another ``cairn run`` process is executing the same run right now."""
