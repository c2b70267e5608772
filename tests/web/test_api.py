"""The HTTP API over real HTTP: sign-in, CSRF, tokens, every denial of the roles, and figures
checked against the demo's own CSV files read with pandas."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import httpx
import pandas as pd
import pytest

from servq.app_store import open_store
from servq.auth import UserStore

from .conftest import PASSWORDS, Served

PHONE = "电话客服组"
ONLINE = "在线客服组"


def tickets(served: Served) -> pd.DataFrame:
    df = pd.read_csv(served.workspace / "demo-input" / "tickets.csv", dtype=str)
    df["created_local"] = pd.to_datetime(df["created_at"], utc=True).dt.tz_convert("Asia/Shanghai")
    return df


def in_days(df: pd.DataFrame, start: str, end: str) -> pd.DataFrame:
    day = df["created_local"].dt.strftime("%Y-%m-%d")
    return df[(day >= start) & (day <= end)]


# -- signing in ---------------------------------------------------------------------------
def test_data_routes_need_sign_in(served: Served) -> None:
    with served.client() as c:
        for path in ("/api/v1/overview", "/api/v1/metrics", "/api/v1/cases", "/api/v1/alerts"):
            r = c.get(path)
            assert r.status_code == 401, path
            assert r.json()["error"].startswith("sign in first")
        page = c.get("/explorer", follow_redirects=False)
        assert page.status_code == 303
        assert page.headers["location"] == "/login?next=/explorer"


def test_wrong_password_gets_one_generic_answer(served: Served) -> None:
    with served.client() as c:
        unknown = c.post("/api/v1/auth/login", json={"username": "nobody", "password": "x" * 9})
        wrong = c.post("/api/v1/auth/login", json={"username": "viewer", "password": "x" * 9})
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json()["error"] == wrong.json()["error"]
    assert "servq_session" not in wrong.cookies


def test_login_is_rate_limited(served: Served) -> None:
    with open_store(served.workspace) as store:
        UserStore(store).create_user("limited", "limited-password", "viewer")
    with served.client() as c:
        codes = [
            c.post(
                "/api/v1/auth/login", json={"username": "limited", "password": "bad-guess-1"}
            ).status_code
            for _ in range(5)
        ]
        assert codes == [401] * 5
        right = c.post(
            "/api/v1/auth/login", json={"username": "limited", "password": "limited-password"}
        )
    # the sixth try is refused before the password is checked, even when it is right
    assert right.status_code == 429
    assert int(right.headers["Retry-After"]) > 0


def test_session_post_without_csrf_token_is_refused(served: Served) -> None:
    with served.client("quality") as c:
        alert = c.get("/api/v1/alerts", params={"state": "all", "limit": 1}).json()["alerts"][0]
        token = c.headers.pop("X-CSRF-Token")
        r = c.post(f"/api/v1/alerts/{alert['id']}/resolve", json={"note": "no token"})
        assert r.status_code == 403
        assert "CSRF" in r.json()["error"]
        c.headers["X-CSRF-Token"] = "not-the-token"
        assert c.post("/api/v1/silences", json={}).status_code == 403
        c.headers["X-CSRF-Token"] = token
        assert c.get("/api/v1/me").json()["user"]["username"] == "quality"


def test_api_token_works_without_csrf_and_stops_when_revoked(served: Served) -> None:
    with open_store(served.workspace) as store:
        users = UserStore(store)
        token = users.issue_token("analyst", "report robot")
        token_id = users.list_tokens("analyst")[-1]["id"]
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=served.url, headers=headers, timeout=60) as c:
        body = {"metrics": ["cases_created"], "by": ["team"]}
        r = c.post("/api/v1/metrics/compute", json=body)
        assert r.status_code == 200
        assert c.get("/api/v1/me").json()["user"]["via"] == "token"
        # an analyst reads everything but may not acknowledge alerts
        assert c.post("/api/v1/alerts/1/ack", json={}).status_code == 403
        with open_store(served.workspace) as store:
            UserStore(store).revoke_token(token_id)
        assert c.get("/api/v1/me").status_code == 401


# -- figures ------------------------------------------------------------------------------
def test_metric_by_team_matches_the_csv(served: Served) -> None:
    expected = in_days(tickets(served), "2025-10-01", "2025-10-31")["team"].value_counts()
    with served.client("analyst") as c:
        r = c.post(
            "/api/v1/metrics/compute",
            json={
                "metrics": ["cases_created"],
                "by": ["team"],
                "start": "2025-10-01",
                "end": "2025-10-31",
            },
        )
    body = r.json()
    got = {row[0]: row[1] for row in body["rows"]}
    assert body["columns"] == ["team", "cases_created"]
    assert got == {team: float(n) for team, n in expected.items()}
    assert sum(got.values()) > 300


def test_row_export_is_every_case_behind_the_number(served: Served) -> None:
    expected = in_days(tickets(served), "2025-10-01", "2025-10-31")
    expected = expected[expected["team"] == PHONE]
    with served.client("analyst") as c:
        r = c.get(
            "/api/v1/metrics/cases_created/rows",
            params={
                "start": "2025-10-01",
                "end": "2025-10-31",
                "where": f'{{"team": ["{PHONE}"]}}',
                "format": "csv",
            },
        )
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert r.content.startswith("\ufeff".encode())  # Excel opens UTF-8 with a BOM
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert sorted(row["case_id"] for row in rows) == sorted(expected["ticket_id"])
    assert {row["team"] for row in rows} == {PHONE}


def test_case_export_as_excel(served: Served) -> None:
    from openpyxl import load_workbook

    expected = tickets(served)
    expected = expected[(expected["status"] == "closed") & (expected["priority"] == "urgent")]
    with served.client("quality") as c:
        r = c.get(
            "/api/v1/cases/export",
            params={"status": "closed", "priority": "urgent", "format": "xlsx"},
        )
    assert r.status_code == 200
    sheet = load_workbook(io.BytesIO(r.content), read_only=True).active
    assert sheet is not None
    values = list(sheet.iter_rows(values_only=True))
    header, body = values[0], values[1:]
    ids = sorted(str(row[header.index("case_id")]) for row in body)
    assert ids == sorted(expected["ticket_id"])


def test_overview_cards_and_sla(served: Served) -> None:
    with served.client("quality") as c:
        o = c.get("/api/v1/overview").json()
    cards = {card["id"]: card for card in o["cards"]}
    assert {"cases_created", "first_reply_time", "csat"} <= set(cards)
    week = o["current"]
    expected = len(in_days(tickets(served), week[0], week[1]))
    assert cards["cases_created"]["value"] == expected
    assert len(cards["cases_created"]["trend"]) == 12
    assert cards["first_reply_time"]["target"] == 300
    # open cases in the SLA tiles: those the CSV says are not solved or closed
    open_cases = tickets(served)["status"].isin(["new", "open", "pending", "on_hold"]).sum()
    assert o["sla"]["open"] == open_cases
    assert o["alerts"]["open"] >= 1


def test_errors_are_json_with_a_message(served: Served) -> None:
    with served.client("analyst") as c:
        unknown = c.post("/api/v1/metrics/compute", json={"metrics": ["no_such_metric"]})
        assert unknown.status_code == 400
        assert "unknown metric" in unknown.json()["error"]
        invalid = c.post("/api/v1/metrics/compute", json={"metrics": []})
        assert invalid.status_code == 422
        assert "invalid request" in invalid.json()["error"]
        bad_date = c.get("/api/v1/cases", params={"start": "2025-13-45"})
        assert bad_date.status_code == 400
        assert c.get("/api/v1/alerts/999999").status_code == 404


def test_openapi_has_stable_operation_ids(served: Served) -> None:
    spec = httpx.get(f"{served.url}/openapi.json").json()
    ops = {
        op["operationId"]
        for path in spec["paths"].values()
        for op in path.values()
        if isinstance(op, dict) and "operationId" in op
    }
    assert {
        "login",
        "getOverview",
        "computeMetrics",
        "exportMetricRows",
        "listCases",
        "exportCases",
        "getSlaBoard",
        "listAlerts",
        "acknowledgeAlert",
        "createSilence",
        "getTextInsights",
        "ingestFile",
        "listQuarantine",
        "replayQuarantine",
        "postEvents",
    } <= ops
    assert not any(p.startswith("/explorer") for p in spec["paths"])


# -- scope: every denial ------------------------------------------------------------------
def test_department_owner_sees_only_their_department(served: Served) -> None:
    with served.client("phone-owner") as c:
        r = c.post("/api/v1/metrics/compute", json={"metrics": ["cases_created"], "by": ["team"]})
        assert [row[0] for row in r.json()["rows"]] == [PHONE]
        other = c.post(
            "/api/v1/metrics/compute",
            json={"metrics": ["cases_created"], "where": {"team": [ONLINE]}},
        )
        assert other.status_code == 403
        widen = c.post(
            "/api/v1/metrics/compute",
            json={"metrics": ["cases_created"], "where": {"team": {"ne": "x"}}},
        )
        assert widen.status_code == 403
        cases = c.get("/api/v1/cases", params={"limit": 1000}).json()
        team_col = cases["columns"].index("team")
        assert {row[team_col] for row in cases["rows"]} == {PHONE}
        assert cases["total"] == (tickets(served)["team"] == PHONE).sum()
        assert c.get("/api/v1/cases", params={"team": ONLINE}).status_code == 403
        rows = c.get(
            "/api/v1/metrics/cases_created/rows",
            params={"where": f'{{"team": ["{ONLINE}"]}}', "format": "json"},
        )
        assert rows.status_code == 403
        alerts = c.get("/api/v1/alerts", params={"state": "all", "limit": 5000}).json()
        assert alerts["alerts"]
        assert {a["labels"]["team"] for a in alerts["alerts"]} == {PHONE}
        # the data page's routes are for roles that see everything
        assert c.get("/api/v1/ingest/batches").status_code == 403
        assert c.get("/api/v1/quarantine").status_code == 403
        # a silence must stay inside their departments
        wide = c.post("/api/v1/silences", json={"matchers": {"rule": "x"}, "duration": "1h"})
        assert wide.status_code == 403
        mine = c.post("/api/v1/silences", json={"matchers": {"team": PHONE}, "duration": "30m"})
        assert mine.status_code == 200
        ov = c.get("/api/v1/overview").json()
        phone_open = tickets(served)
        phone_open = phone_open[
            (phone_open["team"] == PHONE)
            & phone_open["status"].isin(["new", "open", "pending", "on_hold"])
        ]
        assert ov["sla"]["open"] == len(phone_open)


def test_department_owner_cannot_touch_another_departments_alert(served: Served) -> None:
    with served.client("admin") as c:
        alerts = c.get("/api/v1/alerts", params={"state": "all", "limit": 5000}).json()["alerts"]
    online = next(a for a in alerts if a["labels"].get("team") == ONLINE)
    with served.client("phone-owner") as c:
        assert c.get(f"/api/v1/alerts/{online['id']}").status_code == 404
        assert c.post(f"/api/v1/alerts/{online['id']}/ack", json={}).status_code == 404


def test_agent_sees_only_their_own_scorecard(served: Served) -> None:
    expected = tickets(served)
    expected = expected[expected["agent"] == "刘洋"]
    assert len(expected) > 20
    with served.client("agent-liu") as c:
        r = c.post("/api/v1/metrics/compute", json={"metrics": ["cases_created"], "by": ["agent"]})
        assert r.json()["rows"] == [["刘洋", float(len(expected))]]
        other = c.post(
            "/api/v1/metrics/compute",
            json={"metrics": ["cases_created"], "where": {"agent": ["赵磊"]}},
        )
        assert other.status_code == 403
        # agents may not export rows, acknowledge alerts or upload data
        assert c.get("/api/v1/cases/export").status_code == 403
        assert c.get("/api/v1/metrics/cases_created/rows").status_code == 403
        assert c.post("/api/v1/alerts/1/ack", json={}).status_code == 403
        upload = c.post(
            "/api/v1/ingest",
            files={"file": ("t.csv", b"a,b\n1,2\n")},
            data={"profile": "tickets"},
        )
        assert upload.status_code == 403
        cases = c.get("/api/v1/cases", params={"limit": 1000}).json()
        assert cases["total"] == len(expected)


def test_viewer_reads_but_changes_nothing(served: Served) -> None:
    with served.client("viewer") as c:
        assert c.get("/api/v1/overview").status_code == 200
        assert c.get("/api/v1/cases/export").status_code == 403
        assert (
            c.post(
                "/api/v1/silences", json={"matchers": {"team": PHONE}, "duration": "1h"}
            ).status_code
            == 403
        )
        assert (
            c.post("/api/v1/quarantine/b1/replay", json={"profile": "tickets"}).status_code == 403
        )


@pytest.mark.parametrize("role_user", ["viewer", "agent-liu", "phone-owner", "analyst"])
def test_only_ingest_roles_post_events(served: Served, role_user: str) -> None:
    assert role_user in PASSWORDS
    with served.client(role_user) as c:
        r = c.post("/api/v1/events", json=[])
    assert r.status_code == 403


# -- data ---------------------------------------------------------------------------------
def test_upload_quarantines_bad_rows_and_loads_once(served: Served, tmp_path: Path) -> None:
    text = (
        "ticket_id,created_at,status,team,subject\n"
        "U1,2025-11-20T09:00:00+08:00,open,电话客服组,Upload one\n"
        "U2,not a time,open,电话客服组,Broken row\n"
    )
    with served.client("quality") as c:
        first = c.post(
            "/api/v1/ingest",
            files={"file": ("upload.csv", text.encode())},
            data={"profile": "tickets"},
        )
        assert first.status_code == 200, first.text
        result = first.json()["result"]
        assert (result["loaded"], result["quarantined"]) == (1, 1)
        q = c.get("/api/v1/quarantine", params={"batch": result["batch_id"]}).json()
        assert q["total"] == 1
        assert any(reason.startswith("bad_timestamp") for reason in q["by_reason"])
        again = c.post(
            "/api/v1/ingest",
            files={"file": ("upload.csv", text.encode())},
            data={"profile": "tickets"},
        ).json()["result"]
        assert again["loaded"] == 0
        found = c.get("/api/v1/cases", params={"q": "Upload one"}).json()
        assert found["total"] == 1


# -- reports ------------------------------------------------------------------------------
def test_report_download_is_scoped_and_has_the_right_figures(served: Served) -> None:
    from openpyxl import load_workbook
    from pypdf import PdfReader

    week = ("2025-10-20", "2025-10-26")
    expected = in_days(tickets(served), *week)
    with served.client("analyst") as c:
        pdf = c.get("/api/v1/reports", params={"period": "2025-W43", "format": "pdf", "lang": "en"})
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "2025-W43" in text
    assert f"{len(expected):,}" in text
    with served.client("phone-owner") as c:
        xlsx = c.get("/api/v1/reports", params={"period": "2025-W43", "format": "xlsx"})
        assert c.get("/api/v1/reports", params={"period": "2025-13"}).status_code == 400
    assert xlsx.status_code == 200
    book = load_workbook(io.BytesIO(xlsx.content), read_only=True)
    seen = {
        str(cell)
        for sheet in book.worksheets
        for row in sheet.iter_rows(values_only=True)
        for cell in row
        if cell is not None
    }
    assert PHONE in seen
    assert not ({ONLINE, "邮件工单组", "门店服务组", "售后技术组", "投诉处理组"} & seen)
    with served.client("agent-liu") as c:
        assert c.get("/api/v1/reports", params={"period": "2025-W43"}).status_code == 403


def test_admin_manages_users_and_tokens_others_may_not(served: Served) -> None:
    body = {
        "username": "site-lead",
        "password": "site-lead-password",
        "role": "department_owner",
        "departments": [ONLINE],
    }
    with served.client("quality") as c:
        assert c.get("/api/v1/users").status_code == 403
        assert c.post("/api/v1/users", json=body).status_code == 403
    with served.client("admin") as c:
        made = c.post("/api/v1/users", json=body)
        assert made.status_code == 200, made.text
        assert made.json()["user"]["scope"] == {"team": [ONLINE]}
        assert c.post("/api/v1/users", json=body).status_code == 400  # the name is taken
        token = c.post("/api/v1/users/site-lead/tokens", json={"name": "dashboard tv"}).json()
        names = [u["username"] for u in c.get("/api/v1/users").json()["users"]]
        assert "site-lead" in names
    headers = {"Authorization": f"Bearer {token['token']}"}
    with httpx.Client(base_url=served.url, headers=headers, timeout=60) as robot:
        cases = robot.get("/api/v1/cases", params={"limit": 1000}).json()
        team_col = cases["columns"].index("team")
        assert {row[team_col] for row in cases["rows"]} == {ONLINE}
        with served.client("admin") as c:
            off = c.patch("/api/v1/users/site-lead", json={"active": False})
            assert off.status_code == 200
            assert c.patch("/api/v1/users/nobody", json={"active": False}).status_code == 404
        assert robot.get("/api/v1/me").status_code == 401  # a disabled user's token stops


def test_serving_the_demo_does_not_load_its_tickets_twice(served: Served, tmp_path: Path) -> None:
    """The demo's replayed events are in the store's intake; the live copy into the warehouse
    must not load them again (that doubled every count once)."""
    import shutil
    from datetime import datetime

    from servq.monitor.sink import WarehouseSink
    from servq.workspace import Workspace

    for name in ("warehouse.duckdb", "app.db"):
        shutil.copy(served.workspace / name, tmp_path / name)
    with open_store(tmp_path) as store, Workspace(tmp_path) as ws:
        result = WarehouseSink(store, tmp_path).flush(datetime(2026, 1, 1), ws)
        assert result.events == 0
        systems = ws.warehouse.con.execute(
            'SELECT source_system, count(*) FROM "case" GROUP BY 1'
        ).fetchall()
    assert systems == [
        ("helpdesk", len(pd.read_csv(served.workspace / "demo-input" / "tickets.csv")))
    ]
