"""Service-quality reports: build one for a period, render it, send it on a schedule.

Owns the ``servq report`` capability, in these modules:

- ``period``: periods (``2025-W10``, ``2025-03``, ``2025-Q1``, ``2025-03-05..2025-03-11``) and
  the one before each;
- ``build``: :func:`build_report` — the report as plain data (KPIs, movers, SLA, alerts, issues);
- ``render``: :func:`render_html`, :func:`render_pdf`, :func:`render_xlsx`;
- ``schedule``: report schedules in ``<workspace>/reports.yaml``, their next run on China's
  working days and business hours, and e-mail delivery;
- ``runs``: the ``report_run`` table of the application store (a period is sent once);
- ``words``: every word a reader sees, in Chinese and English.

The names below are imported on first use, so that importing ``servq.reports.runs`` (as the
application store does) stays light.

>>> from servq.reports import build_report, parse_period, render_pdf   # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from servq.reports.build import Report, build_report
    from servq.reports.period import Period, PeriodError, parse_period
    from servq.reports.render import render, render_html, render_pdf, render_xlsx

_EXPORTS = {
    "Report": "servq.reports.build",
    "build_report": "servq.reports.build",
    "Period": "servq.reports.period",
    "PeriodError": "servq.reports.period",
    "parse_period": "servq.reports.period",
    "render": "servq.reports.render",
    "render_html": "servq.reports.render",
    "render_pdf": "servq.reports.render",
    "render_xlsx": "servq.reports.render",
}

__all__ = [
    "Period",
    "PeriodError",
    "Report",
    "build_report",
    "parse_period",
    "render",
    "render_html",
    "render_pdf",
    "render_xlsx",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'servq.reports' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
