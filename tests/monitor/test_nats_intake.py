"""Intake from the real NATS JetStream server at 127.0.0.1:4222: at-least-once delivery,
de-duplication, several workers, and a worker killed mid-stream."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import nats
import pytest
from sqlalchemy import func, select

from servq.app_store import open_store
from servq.monitor import nats as intake
from servq.monitor.store import IntakeEvent, IntakeReject

NATS_URL = os.environ.get("SERVQ_TEST_NATS", "nats://127.0.0.1:4222")


def events(n: int, tag: str) -> list[dict[str, object]]:
    """n events over n // 4 cases: created, replied, customer wrote, resolved."""
    kinds = ["case_created", "agent_replied", "customer_replied", "case_resolved"]
    return [
        {
            "event_id": f"{tag}-{i}",
            "type": kinds[i % 4],
            "case_id": f"{tag}-case-{i // 4}",
            "timestamp": f"2025-03-03T09:{i % 4:02d}:00+08:00",
            "team": "T1",
        }
        for i in range(n)
    ]


@pytest.fixture
def stream() -> tuple[str, str]:
    """A stream and subject of this test only, deleted afterwards."""
    tag = uuid.uuid4().hex[:8]
    name, subject = f"SERVQ_TEST_{tag}", f"servqtest.{tag}"
    yield name, subject

    async def drop() -> None:
        nc = await nats.connect(NATS_URL)
        try:
            await nc.jetstream().delete_stream(name)
        finally:
            await nc.close()

    asyncio.run(drop())


def stored(store_url_or_path: Path) -> tuple[int, int, int]:
    store = open_store(store_url_or_path)
    with store.session() as s:
        total = s.execute(select(func.count()).select_from(IntakeEvent)).scalar_one()
        distinct = s.execute(select(func.count(func.distinct(IntakeEvent.event_id)))).scalar_one()
        rejected = s.execute(select(func.count()).select_from(IntakeReject)).scalar_one()
    store.close()
    return total, distinct, rejected


async def _raw_publish(subject: str, bodies: list[bytes]) -> None:
    nc = await nats.connect(NATS_URL)
    try:
        js = nc.jetstream()
        for b in bodies:
            await js.publish(f"{subject}.raw", b)
    finally:
        await nc.close()


def test_worker_stores_each_event_once_and_quarantines_bad_messages(
    tmp_path: Path, stream: tuple[str, str]
) -> None:
    name, subject = stream
    batch = events(400, "w1")
    # every event published once, the first 100 twice more (a publisher retrying), in
    # messages of 10 events; plus two messages that are not events at all
    asyncio.run(intake.publish(batch, url=NATS_URL, stream=name, subject=subject, per_message=10))
    asyncio.run(
        intake.publish(batch[:100], url=NATS_URL, stream=name, subject=subject, per_message=1)
    )
    asyncio.run(_raw_publish(subject, [b"{not json", json.dumps({"event_id": "x"}).encode()]))
    store = open_store(tmp_path)
    stats = asyncio.run(
        intake.run_worker(store, url=NATS_URL, stream=name, subject=subject, idle_exit=2)
    )
    store.close()
    assert stats.accepted == 400
    assert stats.duplicate == 100
    assert stats.rejected == 2
    assert stored(tmp_path) == (400, 400, 2)


def test_two_workers_and_a_killed_one_lose_nothing_and_store_nothing_twice(
    tmp_path: Path, stream: tuple[str, str]
) -> None:
    name, subject = stream
    batch = events(20_000, "w2")
    # a message fetched by a worker that dies is delivered again 2 s later
    asyncio.run(
        intake.publish(
            batch, url=NATS_URL, stream=name, subject=subject, per_message=20, ack_wait=2.0
        )
    )
    code = (
        "import asyncio,sys;from servq.app_store import open_store;"
        "from servq.monitor import nats as n;"
        f"s=open_store({str(tmp_path)!r});"
        f"asyncio.run(n.run_worker(s,url={NATS_URL!r},stream={name!r},subject={subject!r},"
        "batch=int(sys.argv[1]),idle_exit=int(sys.argv[2])))"
    )
    victim = subprocess.Popen([sys.executable, "-c", code, "50", "3"])
    other = subprocess.Popen([sys.executable, "-c", code, "200", "3"])
    # kill one worker with SIGKILL as soon as it has stored something
    deadline = time.monotonic() + 60
    while stored(tmp_path)[0] < 2000 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    assert other.wait(timeout=120) == 0
    # what the killed worker had fetched but not acknowledged comes back after ack_wait to a
    # new worker; run one until the stream is drained
    survivor = subprocess.run([sys.executable, "-c", code, "500", "6"], timeout=120)
    assert survivor.returncode == 0
    total, distinct, rejected = stored(tmp_path)
    assert (total, distinct, rejected) == (20_000, 20_000, 0)
