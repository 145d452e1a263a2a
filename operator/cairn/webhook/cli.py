"""``cairn webhook``: serve GitHub deliveries and sandbox callbacks."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from cairn.errors import CairnError
from cairn.webhook.config import (
    ReceiverConfig,
    load_config,
    parse_config,
    rule_from_flag,
)
from cairn.webhook.errors import ConfigError, SecretsError
from cairn.webhook.secrets import SecretLoader

ENV_CONFIG = "CAIRN_WEBHOOK_CONFIG"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Receive GitHub webhook deliveries (POST /github) and sandbox callbacks"
        " (POST /callbacks/TOKEN); serve /healthz, /readyz and /metrics."
    )
    src = parser.add_argument_group("what may start runs")
    src.add_argument(
        "--config",
        type=Path,
        default=os.environ.get(ENV_CONFIG),
        help=f"receiver configuration (YAML or JSON, usually a mounted ConfigMap; ${ENV_CONFIG})",
    )
    src.add_argument(
        "--repository",
        action="append",
        default=[],
        metavar="OWNER/NAME=NAMESPACE[:SECRET_KEY]",
        help="allow a repository (or OWNER/*) and put its CIRuns in NAMESPACE (repeatable)",
    )
    src.add_argument(
        "--pull-request-types",
        metavar="TYPES",
        help="comma-separated pull_request actions that start runs (default: opened,"
        "synchronize,reopened; '*' forwards all and lets the workflows' `on` decide)",
    )
    src.add_argument(
        "--callback-namespace",
        action="append",
        default=[],
        metavar="NAMESPACE",
        help="namespaces searched for a callback's CIWorkflow (default: the repositories')",
    )
    sec = parser.add_argument_group("secrets")
    sec.add_argument(
        "--webhook-secrets-dir",
        type=Path,
        help="a mounted Secret: file KEY is a webhook secret, KEY.previous the one being rotated"
        " out (or $CAIRN_WEBHOOK_SECRET[_PREVIOUS] for the key 'default')",
    )
    sec.add_argument(
        "--operator-key-file",
        type=Path,
        help="the operator's key (a mounted Secret) that callback secrets derive from"
        " (or $CAIRN_OPERATOR_KEY)",
    )
    sec.add_argument(
        "--secret-refresh-seconds",
        type=float,
        default=10.0,
        help="how often mounted secrets are re-read, to follow a rotation (default 10)",
    )
    srv = parser.add_argument_group("server")
    srv.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    srv.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080)")
    srv.add_argument("--kubeconfig", help="kubeconfig file (default: in-cluster, else $KUBECONFIG)")
    srv.add_argument("--context", help="kubeconfig context")
    srv.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])


def build_config(args: argparse.Namespace) -> ReceiverConfig:
    """The configuration file, with the flags' repositories and settings on top."""
    data: dict[str, Any] = {}
    rules: list[dict[str, Any]] = []
    if args.config is not None:
        from_file = load_config(Path(args.config))
        data = from_file.model_dump(by_alias=True)
        rules = [rule.model_dump(by_alias=True) for rule in from_file.repositories]
    rules += [rule_from_flag(flag) for flag in args.repository]
    data["repositories"] = rules
    if args.pull_request_types:
        data["pullRequestTypes"] = [t.strip() for t in args.pull_request_types.split(",")]
    if args.callback_namespace:
        data["callbackNamespaces"] = list(args.callback_namespace)
    config = parse_config(data, "--config/flags")
    if not config.namespaces:
        raise ConfigError(
            "nothing to serve: give repositories (--config FILE or --repository"
            " OWNER/NAME=NAMESPACE) or --callback-namespace for callbacks only"
        )
    return config


def main(args: argparse.Namespace) -> int:
    try:
        return _serve(args)
    except CairnError as exc:
        print(f"cairn webhook: {exc}", file=sys.stderr)
        return 2


def _serve(args: argparse.Namespace) -> int:
    # imported here so `cairn webhook --help` and config errors stay fast
    from aiohttp import web

    from cairn.k8s.kubeclient import KubeClient, KubeConnection
    from cairn.webhook.app import Receiver, SecretHolder, create_app
    from cairn.webhook.kubeapi import KubeCluster
    from cairn.webhook.logs import configure_logging, logger

    config = build_config(args)
    loader = SecretLoader(
        config.secret_names,
        webhook_dir=args.webhook_secrets_dir,
        operator_key_file=args.operator_key_file,
    )
    holder = SecretHolder(loader)
    if holder.current.problems:
        raise SecretsError("; ".join(holder.current.problems))
    connection = KubeConnection.load(args.kubeconfig, args.context)
    client = KubeClient(connection)
    cluster = KubeCluster(client)
    receiver = Receiver(
        config=config,
        secrets=holder,
        runs=cluster,
        workflows=cluster,
        secret_refresh_seconds=args.secret_refresh_seconds or None,
    )
    app = create_app(receiver)

    async def close_client(_: web.Application) -> None:
        await client.close()

    app.on_cleanup.append(close_client)
    configure_logging(args.log_level)
    logger.info(
        "listening",
        extra={
            "fields": {
                "host": args.host,
                "port": args.port,
                "repositories": [r.name for r in config.repositories],
                "api": connection.host,
            }
        },
    )
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None)
    return 0
