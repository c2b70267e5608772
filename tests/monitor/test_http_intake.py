"""``servq serve`` as a real process: HTTP intake answers per event, and a kill -9 of the
server mid-stream loses no accepted event and stores none twice."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from servq.app_store import open_store
from servq.monitor.store import counts

from .test_nats_intake import events, stored


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def machine_token(workspace: Path, username: str = "intake") -> str:
    """An API token of a quality manager (who may send events and acknowledge alerts)."""
    from servq.auth import UserStore

    workspace.mkdir(parents=True, exist_ok=True)
    with open_store(workspace) as store:
        users = UserStore(store)
        if users.get(username) is None:
            users.create_user(username, "intake-password", "quality_manager")
        return users.issue_token(username, "tests")


class Server:
    def __init__(self, workspace: Path, *extra: str) -> None:
        self.workspace = workspace
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/api/v1"
        self.extra = extra
        self.proc: subprocess.Popen[bytes] | None = None
        self.headers = {"Authorization": f"Bearer {machine_token(workspace)}"}
        self.http = httpx.Client(headers=self.headers, timeout=30)

    def start(self) -> Server:
        cmd = [sys.executable, "-m", "servq", "serve", "-w", str(self.workspace)]
        cmd += ["--port", str(self.port), *self.extra]
        self.proc = subprocess.Popen(cmd, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise AssertionError(f"servq serve exited: {err}")
            time.sleep(0.1)
        raise AssertionError("servq serve did not become ready in 60 s")

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        self.http.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    s = Server(tmp_path, "--no-monitor").start()
    yield s
    s.stop()


def test_events_need_a_token_with_the_ingest_permission(server: Server, tmp_path: Path) -> None:
    from servq.auth import UserStore

    batch = events(2, "auth")
    anonymous = httpx.post(f"{server.url}/events", json=batch, timeout=30)
    assert anonymous.status_code == 401
    assert "sign in" in anonymous.json()["error"]
    wrong = httpx.post(
        f"{server.url}/events", json=batch, headers={"Authorization": "Bearer sqt_nope"}
    )
    assert wrong.status_code == 401
    with open_store(tmp_path) as store:
        users = UserStore(store)
        users.create_user("looker", "looker-password", "viewer")
        viewer = users.issue_token("looker", "read only")
    denied = httpx.post(
        f"{server.url}/events", json=batch, headers={"Authorization": f"Bearer {viewer}"}
    )
    assert denied.status_code == 403
    assert stored(tmp_path)[0] == 0


def test_post_events_answers_per_event(server: Server) -> None:
    batch = [*events(8, "h1"), {"event_id": "bad", "type": "case_created", "case_id": "x"}]
    r = server.http.post(f"{server.url}/events", json={"events": batch}, timeout=30)
    assert r.status_code == 200
    body = r.json()
    assert (body["accepted"], body["duplicate"], body["rejected"]) == (8, 0, 1)
    assert body["results"][-1]["status"] == "rejected"
    assert "timestamp" in body["results"][-1]["reason"]
    # a bare array works too; the same events again are duplicates
    again = server.http.post(f"{server.url}/events", json=batch[:8], timeout=30).json()
    assert again["duplicate"] == 8 and again["accepted"] == 0
    health = server.http.get(f"{server.url}/health").json()
    assert health["events"] == 8 and health["rejected"] == 1 and health["open_cases"] == 0
    assert server.http.post(f"{server.url}/events", content=b"{oops", timeout=10).status_code == 400
    assert server.http.post(f"{server.url}/events", json={"x": 1}, timeout=10).status_code == 422


def test_kill_9_mid_stream_loses_nothing_and_stores_nothing_twice(tmp_path: Path) -> None:
    batches = [events(500, f"k{b}") for b in range(40)]
    answered: set[int] = set()
    server = Server(tmp_path, "--no-monitor").start()

    def send() -> None:
        with httpx.Client(timeout=30, headers=server.headers) as client:
            for i, b in enumerate(batches):
                try:
                    r = client.post(f"{server.url}/events", json=b)
                except httpx.TransportError:
                    return
                assert r.json()["accepted"] == 500
                answered.add(i)

    sender = threading.Thread(target=send)
    sender.start()
    while len(answered) < 8:
        time.sleep(0.01)
    server.kill()
    sender.join()
    assert 8 <= len(answered) < 40
    # every batch answered before the kill is in the store, whole
    assert stored(tmp_path)[0] >= 500 * len(answered)
    # restart and send everything again, as a client without answers must
    server = Server(tmp_path, "--no-monitor").start()
    try:
        with httpx.Client(timeout=30, headers=server.headers) as client:
            for i, b in enumerate(batches):
                body = client.post(f"{server.url}/events", json=b).json()
                if i in answered:
                    assert body["duplicate"] == 500, i
                assert body["accepted"] + body["duplicate"] == 500
    finally:
        server.stop()
    assert stored(tmp_path) == (20_000, 20_000, 0)
    store = open_store(tmp_path)
    # 10,000 cases, each created and resolved: none is open
    assert counts(store)["open_cases"] == 0
    store.close()


POLICY = """\
name: live-3s
title_en: Three-second test policy
title_zh: 三秒测试策略
calendar: 24x7
warn_at: 0.5
rules:
  - targets: {first_reply: 3s, resolution: 1h}
"""


def test_served_monitor_raises_a_breach_and_it_can_be_acknowledged(tmp_path: Path) -> None:
    """The whole chain in one real process: an event over HTTP → an SLA timer → a breach
    alert at its deadline → listed by the API → acknowledged, with who and when kept."""
    from datetime import UTC, datetime

    policy = tmp_path / "live-3s.yaml"
    policy.write_text(POLICY, encoding="utf-8")
    server = Server(tmp_path / "ws", "--policy", str(policy)).start()
    try:
        now = datetime.now(UTC).isoformat()
        created = {"event_id": "m1", "type": "case_created", "case_id": "M1", "timestamp": now}
        assert server.http.post(f"{server.url}/events", json=[created]).json()["accepted"] == 1
        breach = None
        deadline = time.monotonic() + 20
        while breach is None and time.monotonic() < deadline:
            alerts = server.http.get(f"{server.url}/alerts", params={"state": "all"}).json()[
                "alerts"
            ]
            breach = next((a for a in alerts if a["kind"] == "sla_breach"), None)
            time.sleep(0.2)
        assert breach is not None, "no breach alert within 20 s of a 3 s target"
        assert breach["labels"]["case_id"] == "M1"
        assert breach["labels"]["target"] == "first_reply"
        assert breach["state"] == "firing"
        assert breach["severity"] == "critical"
        # the warning at 50 % and the breach are one alert, raised from warning to critical
        assert [a["labels"]["case_id"] for a in alerts] == ["M1"]
        acked = server.http.post(
            f"{server.url}/alerts/{breach['id']}/ack", json={"note": "on it"}
        ).json()["alert"]
        assert acked["state"] == "acknowledged"
        # who acknowledged is the token's user, not a name the client makes up
        assert acked["acknowledged_by"] == "intake"
    finally:
        server.stop()
