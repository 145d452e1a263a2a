"""``cairn operator``: run the Kopf operator.

Settings come from ``CAIRN_*`` variables (``settings.py``, as the Deployment
sets them); the flags override the ones people most often change by hand.

    cairn operator                           # all namespaces, peering "cairn"
    cairn operator -n ci -n ci-staging       # only these namespaces
    cairn operator --standalone --verbose    # one replica, no peering (local runs)
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys

from cairn.errors import CairnError


def configure(parser: argparse.ArgumentParser) -> None:
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument(
        "-n",
        "--namespace",
        action="append",
        dest="namespaces",
        metavar="NS",
        help="watch this namespace (repeatable; default: $CAIRN_NAMESPACES, else all)",
    )
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="watch every namespace")
    peering = parser.add_mutually_exclusive_group()
    peering.add_argument(
        "--peering",
        metavar="NAME",
        help="the Kopf peering object replicas share: a ClusterKopfPeering, or a KopfPeering "
        "in each namespace given with -n (default: $CAIRN_PEERING_NAME or cairn)",
    )
    peering.add_argument(
        "--standalone", action="store_true", help="run without peering (a single replica)"
    )
    parser.add_argument(
        "--priority",
        type=int,
        metavar="N",
        help="this replica's peering priority (default: derived from $POD_NAME); "
        "replicas need distinct priorities",
    )
    parser.add_argument(
        "--liveness",
        metavar="URL",
        help="serve Kopf's liveness probe here; empty: none (default: $CAIRN_LIVENESS_ENDPOINT)",
    )
    parser.add_argument("--verbose", action="store_true", help="debug logging")


def main(args: argparse.Namespace) -> int:
    import kopf

    from cairn.k8s import operator
    from cairn.k8s.peering import own_identity
    from cairn.k8s.settings import from_env

    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        # Kopf logs every handler call at INFO: thousands of lines per run.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    try:
        settings = from_env(os.environ)
    except CairnError as error:
        print(f"cairn operator: {error}", file=sys.stderr)
        return 2
    overrides: dict[str, object] = {}
    if args.namespaces:
        overrides["namespaces"] = tuple(args.namespaces)
    elif args.all_namespaces:
        overrides["namespaces"] = ()
    if args.peering:
        overrides["peering_name"] = args.peering
    if args.priority is not None:
        overrides["peering_priority"] = args.priority
    if args.liveness is not None:
        overrides["liveness_endpoint"] = args.liveness
    settings = dataclasses.replace(settings, **overrides)  # type: ignore[arg-type]
    # Kopf and Cairn's peering gate must agree on who this replica is.
    identity = own_identity()
    operator.configure(operator.OperatorOptions(settings=settings, peer_identity=identity))
    namespaces = list(settings.namespaces)
    kopf.run(
        identity=identity,  # type: ignore[arg-type]
        registry=operator.registry,
        standalone=True if args.standalone else None,
        peering_name=None if args.standalone else settings.peering_name,
        priority=settings.effective_peering_priority(),
        liveness_endpoint=settings.liveness_endpoint or None,
        clusterwide=not namespaces,
        namespaces=namespaces,
    )
    return 0
