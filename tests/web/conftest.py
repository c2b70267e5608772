"""A demo workspace served by a real ``servq`` web app (uvicorn on a free port, in a thread),
shared by the API and browser tests. The demo's alerts are replayed into its store, and its
users of every role exist."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from servq.api import create_app
from servq.demo.alerts import ensure_demo_users, load_demo_alerts
from servq.demo.loop import load_demo_loop
from servq.demo.run import run_demo
from servq.workspace import Workspace

SIZE = 1500
PASSWORDS = {
    "admin": "admin-demo-2025",
    "quality": "quality-demo-2025",
    "analyst": "analyst-demo-2025",
    "phone-owner": "owner-demo-2025",
    "online-owner": "owner-demo-2025",
    "agent-liu": "agent-demo-2025",
    "viewer": "viewer-demo-2025",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    url: str
    workspace: Path

    @contextmanager
    def client(self, username: str | None = None) -> Iterator[httpx.Client]:
        """An HTTP client, signed in as ``username`` (CSRF token set) when given."""
        with httpx.Client(base_url=self.url, timeout=60) as c:
            if username is not None:
                r = c.post(
                    "/api/v1/auth/login",
                    json={"username": username, "password": PASSWORDS[username]},
                )
                assert r.status_code == 200, r.text
                c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
            yield c


@pytest.fixture(scope="session")
def demo_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("web-demo")
    with Workspace(folder) as ws:
        run_demo(ws, size=SIZE, seed=7)
    load_demo_alerts(folder)
    ensure_demo_users(folder)
    load_demo_loop(folder)
    return folder


@pytest.fixture(scope="session")
def served(demo_workspace: Path) -> Iterator[Served]:
    app = create_app(demo_workspace, run_monitor=False)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/v1/health", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    else:
        raise AssertionError("the web app did not start in 60 s")
    yield Served(url, demo_workspace)
    server.should_exit = True
    thread.join(30)
