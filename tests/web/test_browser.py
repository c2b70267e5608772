"""The dashboard in a real browser: Playwright driving Debian's chromium (``/usr/bin/chromium``,
installed by ``.ci/run``) against the served demo. Screenshots go to ``test-artifacts/``."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from .conftest import PASSWORDS, Served

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PHONE = "电话客服组"
ONLINE = "在线客服组"

if not CHROMIUM.exists():
    if os.environ.get("CI"):
        raise RuntimeError("CI must install Debian's chromium (.ci/run does)")
    pytest.skip("no /usr/bin/chromium on this machine", allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    pg = context.new_page()
    pg.errors = []
    pg.on("pageerror", lambda exc: pg.errors.append(str(exc)))
    yield pg
    context.close()


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sign_in(page: Any, served: Served, username: str) -> None:
    page.goto(f"{served.url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORDS[username])
    page.click("button[type=submit]")
    page.wait_for_url(f"{served.url}/")
    page.wait_for_selector("body.ready")


def test_manager_morning_round(page: Any, served: Served) -> None:
    """Sign in, read the overview, drill from a KPI card into the explorer, export the rows as
    CSV, acknowledge an alert, switch to English and back."""
    sign_in(page, served, "quality")
    cards = page.locator("a.card")
    assert cards.count() >= 6
    card = page.locator("a.card[data-metric=first_reply_time]")
    assert "首次响应时间" in card.inner_text()
    assert page.locator("#sla-tiles .tile").count() == 5
    shot(page, "overview-zh")

    card.click()
    page.wait_for_url("**/explorer?metric=first_reply_time*")
    page.wait_for_selector("body.ready")
    page.wait_for_selector("#table table")
    assert page.locator("#metric").input_value() == "first_reply_time"
    assert page.locator("#grain").input_value() == "week"
    weeks = page.locator("#table tbody tr").count()
    assert weeks == 12
    assert page.locator("#chart svg").count() == 1  # the chart library drew it
    shot(page, "explorer")

    # narrow to one team, then export the rows behind the chart
    page.fill("#filter", f"team={PHONE}")
    page.click("#run")
    page.wait_for_function("document.querySelector('#export-csv').href.includes('team')")
    with page.expect_download() as info:
        page.click("#export-csv")
    data = Path(info.value.path()).read_bytes().decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(data)))
    assert rows
    assert {r["team"] for r in rows} == {PHONE}
    assert all(r["first_reply_seconds"] for r in rows)

    page.click("a[data-nav=alerts]")
    page.wait_for_selector("body.ready")
    page.select_option("#state", "firing")
    page.wait_for_selector("#alerts tbody tr")
    first = page.locator("#alerts tbody tr").first
    alert_id = first.locator("td").first.inner_text()
    first.get_by_role("button", name="确认").click()
    page.select_option("#state", "acknowledged")
    page.wait_for_selector(f"#alerts tr.alert-{alert_id}")
    with served.client("admin") as c:
        alert = c.get(f"/api/v1/alerts/{alert_id}").json()
    assert alert["alert"]["state"] == "acknowledged"
    assert alert["alert"]["acknowledged_by"] == "quality"
    shot(page, "alerts")

    page.click("[data-testid=lang-switch]")
    page.wait_for_selector("body.ready")
    assert page.locator("a[data-nav=overview]").inner_text() == "Overview"
    assert page.locator("h1").inner_text().startswith("Alert centre")
    page.goto(f"{served.url}/")
    page.wait_for_selector("a.card")
    assert "First reply time" in page.locator("a.card[data-metric=first_reply_time]").inner_text()
    shot(page, "overview-en")
    # remembered: a new page load stays English until switched back
    page.goto(f"{served.url}/sla")
    assert page.locator("a[data-nav=sla]").inner_text() == "SLA board"
    page.click("[data-testid=lang-switch]")
    assert page.locator("a[data-nav=overview]").inner_text() == "总览"
    assert page.errors == []


def test_department_owner_cannot_see_another_department(page: Any, served: Served) -> None:
    sign_in(page, served, "phone-owner")
    assert page.locator("a[data-nav=data]").count() == 0
    page.goto(f"{served.url}/sla")
    page.wait_for_selector("body.ready")
    teams = page.locator("#by-team tbody tr td:first-child").all_inner_texts()
    assert set(teams) <= {PHONE}
    page.goto(f"{served.url}/explorer?metric=cases_created&by=team")
    page.wait_for_selector("#table table")
    assert page.locator("#table tbody tr td:first-child").all_inner_texts() == [PHONE]
    page.fill("#filter", f"team={ONLINE}")
    page.click("#run")
    page.wait_for_selector("#notice:not([hidden])")
    assert "无权查看" in page.locator("#notice").inner_text()
    page.goto(f"{served.url}/data")
    assert page.locator("[data-testid=forbidden]").count() == 1
    shot(page, "department-owner-denied")


def test_every_page_loads_with_the_outside_world_blocked(page: Any, served: Served) -> None:
    """Nothing but the server itself is asked for: no CDN, no web font, no telemetry."""
    outside: list[str] = []
    asked: list[str] = []

    def route(r: Any) -> None:
        url = r.request.url
        host = urlparse(url).hostname
        if url.startswith("data:") or host in ("127.0.0.1", "localhost"):
            asked.append(url)
            r.continue_()
        else:
            outside.append(url)
            r.abort()

    page.route("**/*", route)
    sign_in(page, served, "admin")
    for path in ("/", "/explorer", "/sla", "/alerts", "/voc", "/data"):
        page.goto(f"{served.url}{path}")
        page.wait_for_selector("body.ready", timeout=60_000)
        assert page.locator("#notice.error:not([hidden])").count() == 0, path
    assert outside == []
    assert any(u.endswith("/static/vendor/echarts.min.js") for u in asked)
    assert page.errors == []
    shot(page, "data")


def test_improvement_pages(page: Any, served: Served) -> None:
    """The board of plans, the demo problem's page with its stages, 5-Why and verdict, and the
    public results page (no sign-in)."""
    sign_in(page, served, "quality")
    page.click("a[data-nav=improve]")
    page.wait_for_selector("body.ready")
    verified = page.locator(".board .column[data-status=verified] a.plan")
    assert verified.count() >= 1
    assert "A-0001" in verified.first.inner_text()
    verified.first.click()
    page.wait_for_url("**/improve/P-0001")
    page.wait_for_selector("body.ready")
    assert page.locator("ol.stages li.done").count() == 4  # closed: every stage passed
    assert page.locator("#retro ul.why li").count() == 4
    assert "根因 · 流程" in page.locator("#retro").inner_text()
    verdict = page.locator(".planbox table tbody tr").first.inner_text()
    assert "达成" in verdict
    assert "-6" in verdict  # the effect, about -64 %
    shot(page, "problem")
    context = page.context.browser.new_context()
    public = context.new_page()
    public.goto(f"{served.url}/results")
    public.wait_for_selector("body.ready")
    assert public.locator(".win").count() >= 1
    assert "phone-owner" not in public.content()
    shot(public, "results")
    context.close()


def test_open_a_problem_from_a_metric_view_and_from_an_alert(page: Any, served: Served) -> None:
    sign_in(page, served, "phone-owner")
    page.goto(f"{served.url}/explorer?metric=full_resolution_time&grain=week")
    page.wait_for_selector("#table table")
    page.once("dialog", lambda d: d.accept("Resolution too slow in November"))
    page.click("#open-problem")
    page.wait_for_url("**/improve/P-*")
    page.wait_for_selector("body.ready")
    assert "Resolution too slow in November" in page.locator("#problem-head").inner_text()
    # the owner's own department, and the view's numbers as evidence
    assert PHONE in page.locator("#problem-head .pmeta").inner_text()
    assert page.locator("#evidence table tbody tr").count() == 12
    page.goto(f"{served.url}/alerts")
    page.wait_for_selector("#alerts tbody tr")
    page.locator("#alerts tbody tr").first.get_by_role("button", name="登记问题").click()
    page.wait_for_url("**/improve/P-*")
    page.wait_for_selector("body.ready")
    assert "告警" in page.locator("#evidence").inner_text()


def test_a_department_owner_works_a_problem_in_the_browser(page: Any, served: Served) -> None:
    """Open a problem by hand, write its 5-Why, add a plan with an acceptance criterion and
    record a call-back, all from the pages."""
    sign_in(page, served, "phone-owner")
    page.goto(f"{served.url}/improve")
    page.wait_for_selector("body.ready")
    page.click("details.editor summary")
    page.fill("#problem-form input[name=title]", "Callers hang up in the IVR")
    page.fill("#problem-form input[name=department]", PHONE)
    page.click("#problem-form button[type=submit]")
    page.wait_for_url("**/improve/P-*")
    page.wait_for_selector("body.ready")
    pid = page.url.rsplit("/", 1)[1]
    page.click("#retro-edit summary")
    page.fill("textarea[name=participants]", f"phone-owner, {PHONE}\nonline-owner, 在线客服组")
    page.fill(
        "textarea[name=nodes]",
        "w1 |  | Why do callers hang up? | The IVR menu has 7 levels | process | yes\n"
        "w2 | w1 | Why 7 levels? | Nobody reads the menu report | data | yes",
    )
    page.fill("textarea[name=conclusions]", "Cut the menu to 3 levels")
    page.click("#retro-form button[type=submit]")
    page.wait_for_selector("#retro ul.why li")
    assert "根因 · 流程" in page.locator("#retro").inner_text()
    page.click("#plan-edit summary")
    page.fill("#plan-form input[name=title]", "Three-level IVR")
    page.fill("#plan-form input[name=owner]", "phone-owner")
    page.fill(
        "#plan-form textarea[name=criteria]",
        f"abandonment_rate[team={PHONE}] in 2025-11-10..2025-11-23 "
        "<= 90% of 2025-10-27..2025-11-09",
    )
    page.click("#plan-form button[type=submit]")
    page.wait_for_selector(".planbox")
    page.fill("#revisit-form input[name=case_id]", "T000001")
    page.fill("#revisit-form input[name=due_at]", "2025-11-25T10:00")
    page.click("#revisit-form button[type=submit]")
    page.wait_for_selector("#revisits tbody tr")
    page.locator("#revisits tbody tr").first.get_by_role("button", name="满意", exact=True).click()
    page.wait_for_function(
        "document.querySelector('#revisits tbody tr').innerText.includes('满意')"
    )
    with served.client("quality") as c:
        problem = c.get(f"/api/v1/improve/problems/{pid}").json()["problem"]
    assert problem["department"] == PHONE
    assert problem["retro"]["complete"] is True
    assert [n["layer"] for n in problem["retro"]["nodes"]] == ["process", "data"]
    (plan,) = problem["plans"]
    assert plan["acceptance"][0]["metric"] == "abandonment_rate"
    assert plan["acceptance"][0]["ratio"] == 0.9
    assert [r["outcome"] for r in problem["revisits"]] == ["satisfied"]
    assert page.errors == []
