"""The dashboard's pages: server-rendered HTML shells in Chinese or English, filled by
``static/app.js`` from the HTTP API.

Owns: the page routes (overview, explorer, SLA board, alert centre, voice of the customer, data),
sign-in and sign-out for browsers, the language switch, and the boot data each page gets
(language, the caller, their permissions, the CSRF token, the script's messages). A page asked
for without a session redirects to ``/login?next=…``. Nothing is fetched from outside the
server: scripts, styles and the charting library are served from ``/static``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from servq.auth import ROLE_NAMES
from servq.web.i18n import client_messages, pick_lang, t
from servq.web.security import (
    LANG_COOKIE,
    SESSION_COOKIE,
    check_csrf,
    clear_session_cookie,
    identify,
    users_of,
)

router = APIRouter(include_in_schema=False)
NAV = (
    ("overview", "/"),
    ("explorer", "/explorer"),
    ("sla", "/sla"),
    ("alerts", "/alerts"),
    ("voc", "/voc"),
    ("improve", "/improve"),
    ("data", "/data"),
)
PAGES = {key: href for key, href in NAV}

_env = Environment(
    loader=PackageLoader("servq.web", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def charts_available() -> bool:
    vendor = resources.files("servq.web").joinpath("static/vendor/echarts.min.js")
    return Path(str(vendor)).exists()


def _lang(request: Request, user_lang: str | None = None) -> str:
    return pick_lang(
        request.cookies.get(LANG_COOKIE), user_lang, request.headers.get("accept-language")
    )


def render(name: str, request: Request, lang: str, **context: Any) -> HTMLResponse:
    template = _env.get_template(name)
    html = template.render(request=request, lang=lang, t=lambda key: t(key, lang), **context)
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


async def _page(request: Request, page: str, **extra: Any) -> Response:
    identity = await run_in_threadpool(identify, request)
    if identity is None:
        return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
    principal, csrf = identity
    lang = _lang(request, principal.lang)
    loop_reader = principal.can("read_all") or principal.role == "department_owner"
    nav = [
        (k, h)
        for k, h in NAV
        if (k != "data" or principal.can("read_all")) and (k != "improve" or loop_reader)
    ]
    common = _common(principal, csrf, lang)
    if (page == "data" and not principal.can("read_all")) or (
        page in ("improve", "problem") and not loop_reader
    ):
        return render("forbidden.html", request, lang, page=page, nav=nav, **common)
    return render(f"{page}.html", request, lang, page=page, nav=nav, **common, **extra)


def _common(principal: Any, csrf: str | None, lang: str) -> dict[str, Any]:
    en, zh = ROLE_NAMES.get(principal.role, (principal.role, principal.role))
    perms = ["read", "read_all", "export", "alerts_write", "ingest", "reports", "users_admin"]
    charts = charts_available()
    return {
        "user": principal,
        "csrf": csrf or "",
        "role_name": en if lang == "en" else zh,
        "can_export": principal.can("export"),
        "can_write": principal.can("alerts_write"),
        "can_ingest": principal.can("ingest"),
        "can_reports": principal.can("reports"),
        # may open a problem (for their departments): quality managers, admins, owners
        "can_open": principal.can("ingest") or principal.role == "department_owner",
        "charts": charts,
        "boot": {
            "lang": lang,
            "csrf": csrf or "",
            "user": principal.as_dict(),
            "perms": [p for p in perms if principal.can(p)],
            "charts": charts,
            "m": client_messages(lang),
        },
    }


@router.get("/", response_class=HTMLResponse)
async def overview_page(request: Request) -> Response:
    return await _page(request, "overview")


@router.get("/explorer", response_class=HTMLResponse)
async def explorer_page(request: Request) -> Response:
    return await _page(request, "explorer")


@router.get("/sla", response_class=HTMLResponse)
async def sla_page(request: Request) -> Response:
    return await _page(request, "sla")


@router.get("/alerts", response_class=HTMLResponse)
async def alerts_page(request: Request) -> Response:
    return await _page(request, "alerts")


@router.get("/voc", response_class=HTMLResponse)
async def voc_page(request: Request) -> Response:
    return await _page(request, "voc")


@router.get("/data", response_class=HTMLResponse)
async def data_page(request: Request) -> Response:
    return await _page(request, "data")


@router.get("/improve", response_class=HTMLResponse)
async def improve_page(request: Request) -> Response:
    return await _page(request, "improve")


@router.get("/improve/{problem_id}", response_class=HTMLResponse)
async def problem_page(request: Request, problem_id: str) -> Response:
    return await _page(request, "problem", problem_id=problem_id)


@router.get("/results", response_class=HTMLResponse)
async def results_page(request: Request) -> Response:
    """The public results page: no sign-in, no personal data."""
    lang = _lang(request)
    boot: dict[str, Any] = {"lang": lang, "csrf": "", "user": None, "perms": []}
    boot["m"] = client_messages(lang)
    return render("results.html", request, lang, boot=boot)


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, next: str = "/") -> Response:
    lang = _lang(request)
    safe_next = next if next.startswith("/") and not next.startswith("//") else "/"
    boot: dict[str, Any] = {
        "lang": lang,
        "csrf": "",
        "user": None,
        "perms": [],
        "m": client_messages(lang),
    }
    return render("login.html", request, lang, next=safe_next, boot=boot)


@router.post("/logout")
async def logout_page(request: Request) -> Response:
    identity = await run_in_threadpool(identify, request)
    if identity is not None:
        await check_csrf(request, identity[1])
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            await run_in_threadpool(users_of(request).logout, token)
    response = RedirectResponse("/login", status_code=303)
    clear_session_cookie(response)
    return response


@router.get("/lang/{code}")
async def switch_language(code: str, next: str = "/") -> Response:
    """Switch the language and remember it for a year (a cookie: no sign-in needed)."""
    safe_next = next if next.startswith("/") and not next.startswith("//") else "/"
    response = RedirectResponse(safe_next, status_code=303)
    if code in ("zh", "en"):
        response.set_cookie(LANG_COOKIE, code, max_age=365 * 24 * 3600, samesite="lax", path="/")
    return response
