"""The step runner: runs one job's steps inside a sandbox.

In production it is the entrypoint of a Kubernetes Job pod (``cairn runner``);
locally the ``cairn run`` executor calls :func:`run_job` with a workspace
directory per job. Both get one :class:`~cairn.engine.jobspec.JobResult` back.
"""
