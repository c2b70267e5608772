"""Event intake from NATS JetStream: the production path of ``servq worker``.

Owns: the stream and consumer servq uses, publishing events to it, and the worker loop.

- Stream ``SERVQ_EVENTS`` on subjects ``servq.events.>``; a message is one event or a JSON
  array of events. Publishers set the ``Nats-Msg-Id`` header to the event id, so JetStream
  drops a re-publish inside its duplicate window; the store drops any later one.
- One durable pull consumer ``servq-workers`` with explicit acks, shared by every worker:
  JetStream hands each message to one worker; a message not acknowledged within ``ack_wait``
  (worker killed, store down) is delivered again, to any worker (at-least-once).
- A worker acknowledges a message only after the batch holding it is committed to the store;
  a redelivered message is stored once (the store answers ``duplicate``) and acknowledged.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import nats
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig
from nats.js.errors import NotFoundError

from servq.app_store import Store
from servq.monitor.store import accept
from servq.warehouse.store import utcnow

log = logging.getLogger("servq.worker")

DEFAULT_URL = "nats://127.0.0.1:4222"
STREAM = "SERVQ_EVENTS"
SUBJECT = "servq.events"
DURABLE = "servq-workers"
ACK_WAIT = 30.0


@dataclass
class WorkerStats:
    messages: int = 0
    events: int = 0
    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0
    batches: int = 0
    failures: int = 0


async def ensure_stream(
    js: Any, stream: str = STREAM, subject: str = SUBJECT, ack_wait: float = ACK_WAIT
) -> None:
    """Create the stream and the workers' durable consumer if they do not exist.

    ``ack_wait``: seconds after which a message fetched but not acknowledged (its worker died)
    is delivered again."""
    try:
        await js.stream_info(stream)
    except NotFoundError:
        await js.add_stream(
            StreamConfig(name=stream, subjects=[f"{subject}.>"], duplicate_window=120.0)
        )
    try:
        await js.consumer_info(stream, DURABLE)
    except NotFoundError:
        await js.add_consumer(
            stream,
            ConsumerConfig(
                durable_name=DURABLE,
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=ack_wait,
                max_ack_pending=100_000,
            ),
        )


async def publish(
    events: Sequence[dict[str, Any]],
    *,
    url: str = DEFAULT_URL,
    subject: str = SUBJECT,
    stream: str = STREAM,
    per_message: int = 1,
    ack_wait: float = ACK_WAIT,
) -> int:
    """Publish events (``per_message`` to a message), waiting for JetStream's acks."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        await ensure_stream(js, stream, subject, ack_wait)
        futures = []
        for i in range(0, len(events), per_message):
            chunk = list(events[i : i + per_message])
            body = chunk[0] if per_message == 1 else chunk
            msg_id = str(chunk[0].get("event_id")) if per_message == 1 else None
            headers = {"Nats-Msg-Id": msg_id} if msg_id else None
            futures.append(
                await js.publish_async(
                    f"{subject}.{chunk[0].get('type', 'event')}",
                    json.dumps(body, ensure_ascii=False).encode("utf-8"),
                    headers=headers,
                )
            )
        await asyncio.gather(*futures)
        return len(events)
    finally:
        await nc.close()


def _decode(data: bytes) -> list[Any]:
    try:
        body = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return [f"__undecodable__: {exc}: {data[:200]!r}"]
    return body if isinstance(body, list) else [body]


async def run_worker(
    store: Store,
    *,
    url: str = DEFAULT_URL,
    stream: str = STREAM,
    subject: str = SUBJECT,
    batch: int = 1000,
    stop: asyncio.Event | None = None,
    idle_exit: float | None = None,
    on_batch: Callable[[WorkerStats], None] | None = None,
    ack_wait: float = ACK_WAIT,
) -> WorkerStats:
    """Consume events into the store until ``stop`` is set (or after ``idle_exit`` seconds
    without messages). Returns what was done."""
    stop = stop or asyncio.Event()
    stats = WorkerStats()
    nc = await nats.connect(url, max_reconnect_attempts=-1)
    try:
        js = nc.jetstream()
        await ensure_stream(js, stream, subject, ack_wait)
        sub = await js.pull_subscribe_bind(DURABLE, stream=stream)
        idle = 0.0
        while not stop.is_set():
            try:
                msgs = await sub.fetch(batch, timeout=1.0)
            except TimeoutError:  # nats-py raises its own subclass or asyncio's (= TimeoutError)
                idle += 1.0
                if idle_exit is not None and idle >= idle_exit:
                    break
                continue
            idle = 0.0
            await _handle(store, msgs, stats)
            if on_batch is not None:
                on_batch(stats)
    finally:
        await nc.close()
    return stats


async def _handle(store: Store, msgs: list[Any], stats: WorkerStats) -> None:
    events: list[Any] = []
    for m in msgs:
        events.extend(_decode(m.data))
    try:
        result = await asyncio.to_thread(accept, store, events, utcnow(), source="nats")
    except Exception:
        # nothing was committed: let JetStream deliver these again (to any worker)
        log.exception("storing a batch of %d events failed; will be redelivered", len(events))
        stats.failures += 1
        await asyncio.gather(*(m.nak(delay=1.0) for m in msgs))
        return
    await asyncio.gather(*(m.ack() for m in msgs))
    counts = result.counts()
    stats.messages += len(msgs)
    stats.events += len(events)
    stats.batches += 1
    stats.accepted += counts["accepted"]
    stats.duplicate += counts["duplicate"]
    stats.rejected += counts["rejected"]
