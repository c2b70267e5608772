"""bench/web: the dashboard's API on 1M cases — server time of the overview and of one explorer
query, then 50 concurrent API clients for 30 s.

The 1M cases (and their ~4M status events) are bench/metrics' synthetic warehouse, built once
and cached under ``bench/.cache/``; a copy is served by a real ``servq serve --no-monitor`` in a
child process. Server time is the ``Server-Timing`` header servq sets on every answer (time in
servq, without the network); the client's round trip is printed too.

1. Cold: the first overview and the first explorer query after start (computed).
2. Warm: each asked 50 times more (the answer is reused until data arrives: see
   ``servq.web.warehouse``), p50/p95/max.
3. Load: 50 clients, each signed in with its own session first, then for 30 s asking in turn
   for the overview, an explorer query (one of four breakdowns: the first time each is asked it
   is computed, on the 1M cases), a page of the case list, the SLA board and the alerts.
   Errors (any status but 200, any transport error) are counted; the goal is none.

Issue goal: p95 server time <= 300 ms for both; 50 clients x 30 s with zero errors.

    .venv/bin/python bench/web.py [--cases 1000000] [--clients 50] [--seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from metrics import build  # bench/metrics.py builds the cached warehouse

GOAL_MS = 300.0
USER, PASSWORD = "bench", "bench-password-1"
OVERVIEW = "/api/v1/overview"
EXPLORER = {"metrics": ["first_reply_time"], "by": ["team"], "grain": "week"}
QUERIES = [
    EXPLORER,
    {"metrics": ["cases_created", "full_resolution_time"], "by": ["channel"], "grain": "month"},
    {"metrics": ["reopen_rate"], "by": ["priority"]},
    {"metrics": ["first_reply_time"], "by": ["team"], "where": {"priority": ["high", "urgent"]}},
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_ms(r: httpx.Response) -> float:
    timing = r.headers.get("server-timing", "app;dur=nan")
    return float(timing.split("dur=")[1])


def pct(values: list[float]) -> str:
    a = np.asarray(values)
    return (
        f"p50 {np.percentile(a, 50):7.1f} ms  p95 {np.percentile(a, 95):7.1f} ms  "
        f"p99 {np.percentile(a, 99):7.1f} ms  max {a.max():7.1f} ms  (n={len(a)})"
    )


def login(client: httpx.Client) -> None:
    r = client.post("/api/v1/auth/login", json={"username": USER, "password": PASSWORD})
    r.raise_for_status()
    client.headers["X-CSRF-Token"] = r.json()["csrf_token"]


def timed(client: httpx.Client, method: str, path: str, **kw: Any) -> tuple[float, float]:
    t = time.perf_counter()
    r = client.request(method, path, **kw)
    r.raise_for_status()
    return server_ms(r), (time.perf_counter() - t) * 1000


async def load(url: str, clients: int, seconds: float) -> dict[str, Any]:
    server: list[float] = []
    trip: list[float] = []
    errors: list[str] = []
    stop = 0.0

    async def signed_in(c: httpx.AsyncClient) -> None:
        r = await c.post("/api/v1/auth/login", json={"username": USER, "password": PASSWORD})
        if r.status_code != 200:
            errors.append(f"login {r.status_code}")
        else:
            c.headers["X-CSRF-Token"] = r.json()["csrf_token"]

    async def one(k: int, c: httpx.AsyncClient) -> None:
        i = k
        while time.monotonic() < stop:
            step = i % 5
            i += 1
            t = time.perf_counter()
            try:
                if step == 0:
                    r = await c.get(OVERVIEW)
                elif step == 1:
                    r = await c.post("/api/v1/metrics/compute", json=QUERIES[i % len(QUERIES)])
                elif step == 2:
                    r = await c.get("/api/v1/cases", params={"limit": 50, "offset": i % 500})
                elif step == 3:
                    r = await c.get("/api/v1/sla/board", params={"limit": 100})
                else:
                    r = await c.get("/api/v1/alerts")
            except httpx.HTTPError as exc:
                errors.append(type(exc).__name__)
                continue
            trip.append((time.perf_counter() - t) * 1000)
            if r.status_code != 200:
                errors.append(f"{r.status_code} {r.text[:80]}")
            else:
                server.append(server_ms(r))

    # every client signs in first (argon2id is slow on purpose); the 30 s start after
    sessions = [httpx.AsyncClient(base_url=url, timeout=120) for _ in range(clients)]
    await asyncio.gather(*(signed_in(c) for c in sessions))
    stop = time.monotonic() + seconds
    t0 = time.perf_counter()
    await asyncio.gather(*(one(k, c) for k, c in enumerate(sessions)))
    for c in sessions:
        await c.aclose()
    return {
        "server": server,
        "trip": trip,
        "errors": errors,
        "seconds": time.perf_counter() - t0,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=1_000_000)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--repeat", type=int, default=50)
    args = ap.parse_args()

    source, info = build(args.cases, events=True)
    folder = Path(tempfile.mkdtemp(prefix="servq-bench-web-"))
    shutil.copy(source / "warehouse.duckdb", folder / "warehouse.duckdb")
    from servq.app_store import open_store
    from servq.auth import UserStore

    with open_store(folder) as store:
        UserStore(store).create_user(USER, PASSWORD, "quality_manager")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "servq", "serve", "-w", str(folder), "--port", str(port)]
    proc = subprocess.Popen([*cmd, "--no-monitor"], stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{url}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        print(
            f"bench/web: {info['cases']:,} cases, {info['events']:,} events; "
            f"servq serve --no-monitor on port {port}"
        )
        with httpx.Client(base_url=url, timeout=600) as c:
            login(c)
            cold_o = timed(c, "GET", OVERVIEW)
            cold_e = timed(c, "POST", "/api/v1/metrics/compute", json=EXPLORER)
            print(
                f"cold overview        server {cold_o[0]:8.1f} ms  round trip {cold_o[1]:8.1f} ms"
            )
            print(
                f"cold explorer query  server {cold_e[0]:8.1f} ms  round trip {cold_e[1]:8.1f} ms"
            )
            warm_o = [timed(c, "GET", OVERVIEW)[0] for _ in range(args.repeat)]
            warm_e = [
                timed(c, "POST", "/api/v1/metrics/compute", json=EXPLORER)[0]
                for _ in range(args.repeat)
            ]
        p95_o = float(np.percentile(warm_o, 95))
        p95_e = float(np.percentile(warm_e, 95))
        print(f"warm overview        server {pct(warm_o)}")
        print(f"warm explorer query  server {pct(warm_e)}")
        print(
            f"goal p95 <= {GOAL_MS:.0f} ms: overview {p95_o:.1f} ms "
            f"({p95_o / GOAL_MS:.3f} of the goal), explorer {p95_e:.1f} ms "
            f"({p95_e / GOAL_MS:.3f} of the goal)"
        )
        result = asyncio.run(load(url, args.clients, args.seconds))
        n = len(result["trip"])
        print(
            f"load: {args.clients} clients x {result['seconds']:.1f} s: {n:,} requests "
            f"({n / result['seconds']:.0f}/s), errors {len(result['errors'])}"
        )
        print(f"  server time  {pct(result['server'])}")
        print(f"  round trip   {pct(result['trip'])}")
        if result["errors"]:
            print("  first errors:", result["errors"][:5])
    finally:
        proc.terminate()
        proc.wait(30)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
