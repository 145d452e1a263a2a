"""Deliveries per second the webhook receiver sustains on loopback, and its p99.

    python benchmarks/webhook_throughput.py [--requests N] [--concurrency C]

Each server runs in a child process on 127.0.0.1 (so the load generator does
not share its event loop), in turn:

- **bare**: an aiohttp handler that reads the body and returns 200 — the
  floor any aiohttp receiver pays for HTTP itself;
- **receiver**: ``cairn webhook``'s application with an in-memory store that
  keeps only run names: each request is a signed, GitHub-shaped push with its
  own delivery id, verified, decided and turned into a CIRun body;
- **callbacks**: sandboxes of a 300-job workflow reporting completion (secret
  check, label-selected lookup, checkpoint read, annotation write) into the
  in-memory cluster, which copies the workflow through JSON as an API would.

Figures are printed as ratios against the bare handler measured in the same
run (throughput ratio below 1.0 and latency ratio above 1.0 are the
receiver's own cost). The request loops are bounded; nothing leaves loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.unit.webhook import payloads
from tests.unit.webhook.workflows import running_job, token_for, workflow_object

from cairn.k8s.tokens import callback_secret
from cairn.webhook.app import Receiver, SecretHolder, create_app
from cairn.webhook.config import ReceiverConfig
from cairn.webhook.memory import InMemoryCluster
from cairn.webhook.secrets import SecretLoader
from cairn.webhook.signature import sign

SECRET = b"benchmark-webhook-secret"
OPERATOR_KEY = b"benchmark-operator-key-0123456789abcdef"
NAMESPACE = "ci-bench"
WORKFLOW = "gh-bench-ci-yml"
CALLBACK_JOBS = 300


class NameOnlyRunStore:
    """Remembers CIRun names only: AlreadyExists semantics without holding 3,000
    payloads, whose garbage collection would be charged to the receiver."""

    def __init__(self) -> None:
        self.names: set[tuple[str, str]] = set()

    async def create_run(self, namespace: str, body: dict[str, Any]) -> bool:
        key = (namespace, body["metadata"]["name"])
        if key in self.names:
            return False
        self.names.add(key)
        return True

    async def check_ready(self) -> None:
        return None


def receiver_app() -> web.Application:
    config = ReceiverConfig.model_validate(
        {"repositories": [{"name": payloads.FULL_NAME, "namespace": NAMESPACE}]}
    )
    env = {"CAIRN_WEBHOOK_SECRET": SECRET.decode(), "CAIRN_OPERATOR_KEY": OPERATOR_KEY.decode()}
    cluster = InMemoryCluster()
    jobs = {f"job-{i}": running_job(f"job-{i}") for i in range(CALLBACK_JOBS)}
    cluster.put_workflow(workflow_object(NAMESPACE, WORKFLOW, jobs))
    receiver = Receiver(
        config=config,
        secrets=SecretHolder(SecretLoader(config.secret_names, env=env)),
        runs=NameOnlyRunStore(),
        workflows=cluster,
        secret_refresh_seconds=None,
    )
    return create_app(receiver)


def bare_app() -> web.Application:
    async def ok(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=200)

    app = web.Application(client_max_size=32 * 1024 * 1024)
    app.router.add_post("/{tail:.*}", ok)
    return app


def serve(kind: str, ports: Any) -> None:
    """Child process: serve ``kind`` on a free loopback port until terminated."""
    import logging

    logging.disable(logging.CRITICAL)  # the receiver's log lines would measure the terminal

    async def main() -> None:
        app = bare_app() if kind == "bare" else receiver_app()
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        ports.put(runner.addresses[0][1])
        await asyncio.Event().wait()

    asyncio.run(main())


@dataclass
class Figures:
    per_second: float
    p50_ms: float
    p99_ms: float
    statuses: dict[int, int]


def delivery_requests(count: int) -> list[tuple[str, bytes, dict[str, str]]]:
    requests = []
    for _ in range(count):
        body = json.dumps(payloads.push_branch()).encode()
        headers = {
            "Content-Type": "application/json",
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-Hub-Signature-256": sign(SECRET, body),
        }
        requests.append(("/github", body, headers))
    return requests


def callback_requests(count: int) -> list[tuple[str, bytes, dict[str, str]]]:
    requests = []
    for i in range(count):
        instance = f"job-{i % CALLBACK_JOBS}"
        token = token_for(NAMESPACE, WORKFLOW, instance)
        result = {"instance_id": instance, "attempt": 1, "conclusion": "success"}
        headers = {
            "Content-Type": "application/json",
            "Authorization": f"Bearer {callback_secret(OPERATOR_KEY, token)}",
        }
        requests.append((f"/callbacks/{token}", json.dumps(result).encode(), headers))
    return requests


async def load(
    port: int, requests: list[tuple[str, bytes, dict[str, str]]], concurrency: int
) -> Figures:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    queue = iter(requests)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            for path, body, headers in queue:
                started = time.perf_counter()
                async with session.post(
                    f"http://127.0.0.1:{port}{path}", data=body, headers=headers
                ) as response:
                    await response.read()
                latencies.append(time.perf_counter() - started)
                statuses[response.status] = statuses.get(response.status, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return Figures(
        per_second=len(requests) / elapsed,
        p50_ms=statistics.median(latencies) * 1000,
        p99_ms=latencies[int(len(latencies) * 0.99) - 1] * 1000,
        statuses=statuses,
    )


def measure(
    kind: str,
    requests: list[tuple[str, bytes, dict[str, str]]],
    concurrency: int,
    warmup: list[tuple[str, bytes, dict[str, str]]],
) -> Figures:
    context = multiprocessing.get_context("spawn")
    ports = context.Queue()
    child = context.Process(target=serve, args=(kind, ports), daemon=True)
    child.start()
    try:
        port = ports.get(timeout=30)
        asyncio.run(load(port, warmup, concurrency))
        return asyncio.run(load(port, requests, concurrency))
    finally:
        child.terminate()
        child.join(timeout=10)


def show(label: str, figures: Figures) -> None:
    print(
        f"  {label:<22}{figures.per_second:8.0f}/s  p50 {figures.p50_ms:6.2f} ms"
        f"  p99 {figures.p99_ms:6.2f} ms  {figures.statuses}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="requests per measurement")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    parser.add_argument(
        "--rounds", type=int, default=3, help="bare/receiver pairs; the median pair is shown"
    )
    args = parser.parse_args()

    # Each round measures the bare handler and the receiver back to back, so a
    # burst of load from elsewhere on the machine skews one pair, not the ratio.
    warmup = delivery_requests(200)
    pairs = []
    for _ in range(args.rounds):
        deliveries = delivery_requests(args.requests)
        bare = measure("bare", deliveries, args.concurrency, warmup)
        receiver = measure("receiver", deliveries, args.concurrency, warmup)
        callbacks = measure(
            "receiver", callback_requests(CALLBACK_JOBS), args.concurrency, delivery_requests(50)
        )
        pairs.append((receiver.per_second / bare.per_second, bare, receiver, callbacks))
    pairs.sort(key=lambda pair: pair[0])
    _, bare, receiver, callbacks = pairs[len(pairs) // 2]
    ratios = ", ".join(f"{pair[0]:.2f}" for pair in pairs)

    body_kb = len(warmup[0][1]) / 1024
    print(
        f"{args.requests} signed push deliveries of {body_kb:.1f} KB, {args.concurrency} in"
        f" flight, loopback; median of {args.rounds} rounds (throughput ratios: {ratios})"
    )
    show("bare aiohttp handler:", bare)
    show("receiver:", receiver)
    print(f"  throughput ratio receiver/bare: {receiver.per_second / bare.per_second:.2f}")
    print(f"  p99 latency ratio receiver/bare: {receiver.p99_ms / bare.p99_ms:.2f}")
    print(f"{CALLBACK_JOBS} completion callbacks into one {CALLBACK_JOBS}-job workflow")
    show("callbacks:", callbacks)
    print(f"  throughput ratio callbacks/bare: {callbacks.per_second / bare.per_second:.2f}")
    print(f"  p99 latency ratio callbacks/bare: {callbacks.p99_ms / bare.p99_ms:.2f}")
    for _, _, run, back in pairs:
        if run.statuses != {201: args.requests} or back.statuses != {202: CALLBACK_JOBS}:
            print("unexpected statuses: the figures above are not valid", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
