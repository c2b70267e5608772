"""Demo exports of a Chinese retail chain's service centre, with problems planted on purpose.

Owns: ``generate_demo``, which simulates twelve weeks (by default) of tickets, their event log,
phone calls, surveys and the agents' roster, and writes them as the CSV files a ticketing system,
a call-centre platform, a survey tool and a workforce tool would export. The problems described
in ``servq.demo.planted`` are planted in the simulation, not painted onto the output, so every
file tells the same story (a thin roster explains slow replies, slow replies explain bad scores).

Imports numpy, pyarrow and the Chinese holiday calendar; writes only into ``out_dir``.

Times are simulated as integer "wall seconds": seconds since 1970-01-01 00:00 on the local clock
(China Standard Time, which has no daylight saving), and written with the +08:00 offset.

>>> from pathlib import Path; import tempfile
>>> m = generate_demo(Path(tempfile.mkdtemp()), size=500)
>>> m.rows["tickets"]
500
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import chinese_calendar
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from servq.demo import planted as pl
from servq.demo.planted import PlantedProblem

Arr = npt.NDArray[Any]

# --- the organisation and its vocabulary (fixed: the same for every seed and size) ------------

SITES = ("上海徐汇店", "北京朝阳店", "广州天河店", "深圳南山店", "成都锦江店", "杭州西湖店")
SITE_WEIGHTS = (0.22, 0.20, 0.17, 0.16, 0.13, 0.12)

CHANNELS = ("phone", "chat", "email", "app", "walk_in")
CHANNEL_WEIGHTS = (0.28, 0.26, 0.16, 0.18, 0.12)
CH_PHONE, CH_CHAT, CH_EMAIL, CH_APP, CH_WALK_IN = range(5)

CATEGORIES = ("退款", "物流配送", "账户问题", "产品质量", "服务态度", "费用争议", "维修安装")
CATEGORY_WEIGHTS = (0.18, 0.20, 0.12, 0.17, 0.08, 0.10, 0.15)
CAT_REFUND, CAT_DELIVERY, CAT_ACCOUNT, CAT_QUALITY, CAT_ATTITUDE, CAT_FEES, CAT_REPAIR = range(7)

PRIORITIES = ("low", "normal", "high", "urgent")
# SLA targets in calendar hours, by priority: the due time does not stop at night.
SLA_HOURS = (72, 24, 8, 4)
PRIORITY_BY_CATEGORY = (
    (0.15, 0.60, 0.20, 0.05),
    (0.20, 0.60, 0.15, 0.05),
    (0.10, 0.55, 0.25, 0.10),
    (0.35, 0.50, 0.12, 0.03),
    (0.10, 0.50, 0.30, 0.10),
    (0.15, 0.60, 0.20, 0.05),
    (0.50, 0.40, 0.08, 0.02),
)

STATUSES = ("new", "open", "pending", "on_hold", "solved", "closed")
ST_NEW, ST_OPEN, ST_PENDING, ST_ON_HOLD, ST_SOLVED, ST_CLOSED = range(6)

TEAMS = ("电话客服组", "在线客服组", "邮件工单组", "门店服务组", "售后技术组", "投诉处理组")
T_PHONE, T_ONLINE, T_EMAIL, T_STORE, T_TECH, T_COMPLAINT = range(6)
# The team a channel's tickets go to unless the category needs specialists.
CHANNEL_TEAM = (T_PHONE, T_ONLINE, T_EMAIL, T_ONLINE, T_STORE)
# Service hours [open, close) per day kind: working day, rest day, public holiday.
TEAM_HOURS: tuple[tuple[tuple[int, int], ...], ...] = (
    ((8, 22), (8, 22), (9, 18)),
    ((8, 23), (8, 23), (9, 21)),
    ((9, 20), (9, 20), (10, 16)),
    ((10, 21), (10, 21), (10, 21)),
    ((9, 20), (9, 20), (10, 16)),
    ((9, 21), (9, 21), (10, 16)),
)
# Tickets one agent on duty closes in a day, and the smallest team (per site for the stores).
TEAM_CAPACITY = (22.0, 28.0, 18.0, 12.0, 8.0, 8.0)
TEAM_MIN_HEADCOUNT = (6, 6, 4, 3, 5, 4)
# Share of a team rostered on an ordinary weekday (days off, leave, training).
ATTENDANCE = 0.72
MAX_ATTENDANCE = 0.92

DAY_WORK, DAY_REST, DAY_HOLIDAY = range(3)
# Relative ticket volume by weekday on working days, then Saturday/Sunday rest days.
WORKDAY_VOLUME = (1.12, 1.05, 1.00, 0.98, 0.95, 0.95, 0.95)
REST_VOLUME = (0.70, 0.70, 0.70, 0.70, 0.70, 0.70, 0.62)
HOLIDAY_VOLUME = 0.45
# Customers save up their problems over a long holiday and bring them on the first workdays.
POST_HOLIDAY_BOOST = (1.6, 1.35, 1.15)
# Share of the day's tickets by hour: peaks 10-11 and 14-16, quiet nights; rest days start later.
WORKDAY_HOURS = (
    0.25, 0.15, 0.10, 0.08, 0.08, 0.15, 0.40, 1.00, 2.20, 4.50, 6.60, 6.40,
    3.80, 4.30, 6.00, 6.30, 5.80, 4.60, 3.40, 3.10, 2.90, 2.30, 1.30, 0.60,
)  # fmt: skip
REST_HOURS = (
    0.30, 0.18, 0.10, 0.08, 0.08, 0.12, 0.30, 0.70, 1.60, 3.90, 6.40, 6.60,
    4.30, 4.40, 6.00, 6.20, 5.70, 4.60, 3.40, 3.10, 2.90, 2.30, 1.30, 0.65,
)  # fmt: skip

# Median first-reply effort by channel (seconds of staffed time) and factors by priority.
FRT_MEDIAN_S = (120.0, 90.0, 1800.0, 1200.0, 240.0)
FRT_PRIORITY = (1.3, 1.0, 0.7, 0.5)
# Escalated tickets wait for a specialist whatever the channel (seconds of staffed time; 0: none).
TEAM_FRT_MEDIAN_S = (0.0, 0.0, 0.0, 0.0, 1200.0, 1200.0)
# Median resolution effort by category (hours of staffed time), factors by priority and channel.
RES_MEDIAN_H = (2.5, 2.5, 1.0, 4.0, 2.5, 3.0, 6.0)
RES_PRIORITY = (1.4, 1.0, 0.6, 0.3)
RES_CHANNEL = (0.8, 0.9, 1.1, 1.0, 0.5)
# Chance the first contact solves the case (one touch), by channel.
FCR_PROB = (0.35, 0.30, 0.08, 0.15, 0.50)
HOLD_PROB = (0.25, 0.35, 0.05, 0.30, 0.05, 0.08, 0.50)
REOPEN_PROB = (0.05, 0.05, 0.04, 0.09, 0.05, 0.05, 0.09)
AUTO_CLOSE_HOURS = 96

FEEDBACK_RATE = 0.30
FEEDBACK_RATE_WALK_IN = 0.45
NPS_SHARE = 0.15
ENGLISH_SHARE = 0.25

CALLS_PER_PHONE_TICKET = 3.0
FOLLOW_UP_CALLS = 0.4  # extra calls per phone ticket about the same case
SHORT_ABANDON_S = 5
CALL_BASE_OCCUPANCY = 0.62
CALL_MAX_OCCUPANCY = 0.93
CALL_WAIT_SCALE_S = 14.0
CALL_PATIENCE_S = 300.0  # mean patience of callers who do not hang up at once
CALL_QUEUES = ("售后服务", "物流查询", "会员服务", "投诉专线")
QUEUE_BY_CATEGORY = (0, 1, 2, 0, 3, 3, 0)

BOT_NAME = "智能客服"
SYSTEM_ACTOR = "system"
EXTRA_DAYS = 90  # simulate past the export so that late events exist (and are cut off)
HOUR = 3600
DAY = 86400

FILE_NAMES = {
    "tickets": "tickets.csv",
    "ticket_events": "ticket_events.csv",
    "feedback": "feedback.csv",
    "calls": "calls.csv",
    "roster": "roster.csv",
}
TICKET_COLUMNS = (
    "ticket_id", "created_at", "first_reply_at", "resolved_at", "closed_at", "due_at",
    "updated_at", "channel", "category", "priority", "status", "customer_id", "team", "agent",
    "site", "subject", "reopened",
)  # fmt: skip
EVENT_COLUMNS = (
    "event_id", "ticket_id", "activity", "timestamp", "actor", "actor_type", "status", "public",
)  # fmt: skip
FEEDBACK_COLUMNS = (
    "feedback_id", "ticket_id", "submitted_at", "survey", "score", "scale_min", "scale_max",
    "site", "team", "agent", "channel", "text", "language",
)  # fmt: skip
CALL_COLUMNS = (
    "call_id", "ticket_id", "arrived_at", "queued_at", "answered_at", "ended_at",
    "queue_seconds", "talk_seconds", "hold_seconds", "wrap_seconds", "outcome", "agent", "team",
    "site", "queue", "priority",
)  # fmt: skip
ROSTER_COLUMNS = ("record_id", "agent", "team", "site", "start_at", "end_at", "kind")

_SITE_REPEAT = SITES.index(pl.REPEAT_SITE)
_T_SLOW = TEAMS.index(pl.WEEKEND_SLOW_TEAM)
_T_SHORT = tuple(TEAMS.index(t) for t in pl.SHORTAGE_TEAMS)
_T_RUDE = TEAMS.index(pl.RUDE_AGENT_TEAM)
_CAT_SURGE = CATEGORIES.index(pl.DELIVERY_CATEGORY)
# The rude agent's name is handed out first, to the first member of their team.
_RUDE_AGENT_INDEX = 0

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶"
_GIVEN = (
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明",
    "超", "秀英", "霞", "平", "刚", "桂英", "婷", "浩", "宇", "欣怡", "子涵", "梓轩", "佳怡",
    "晨", "雪", "琳", "鹏", "辉", "倩", "颖", "昊", "悦", "思远", "嘉豪",
)  # fmt: skip


# --- public API --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoManifest:
    """What ``generate_demo`` wrote: files by name, their data rows, and the planted problems."""

    out_dir: Path
    files: dict[str, Path]
    rows: dict[str, int]
    planted: tuple[PlantedProblem, ...]
    seed: int
    size: int
    start: date
    # The export moment: 00:00 (+08:00) of this day; nothing in the files happens at or after it.
    end: date


def generate_demo(
    out_dir: Path,
    size: int = 5000,
    seed: int = 7,
    start: date = date(2025, 9, 1),
    weeks: int = 12,
) -> DemoManifest:
    """Write tickets, ticket events, feedback, calls and roster CSV files into ``out_dir``.

    ``size`` is the number of tickets; the other files scale with it. The same arguments give
    the same bytes.
    """
    if size < 1:
        raise ValueError(f"size must be at least 1, got {size}")
    if weeks < 1:
        raise ValueError(f"weeks must be at least 1, got {weeks}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    problems = pl.plan_problems(start, weeks)

    days = _calendar(start, 7 * weeks + EXTRA_DAYS)
    sim = _Simulation(rng, start, weeks, days, size)
    tables = {
        "tickets": sim.tickets_table(),
        "ticket_events": sim.events_table(),
        "feedback": sim.feedback_table(),
        "calls": sim.calls_table(),
        "roster": sim.roster_table(),
    }
    files: dict[str, Path] = {}
    rows: dict[str, int] = {}
    for name, table in tables.items():
        path = out_dir / FILE_NAMES[name]
        rows[name] = _write_csv(path, table)
        files[name] = path
    return DemoManifest(
        out_dir=out_dir,
        files=files,
        rows=rows,
        planted=problems,
        seed=seed,
        size=size,
        start=start,
        end=start + timedelta(days=7 * weeks),
    )


# --- calendar ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Days:
    kind: Arr  # DAY_WORK (adjusted working days included), DAY_REST or DAY_HOLIDAY
    weekday: Arr
    volume: Arr  # expected relative ticket volume


def _day_kind(day: date) -> int:
    try:
        if chinese_calendar.is_workday(day):
            return DAY_WORK
        _, name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:
        # Outside the years the package knows: Monday to Friday, no public holidays.
        return DAY_WORK if day.weekday() < 5 else DAY_REST
    return DAY_REST if name is None else DAY_HOLIDAY


def _calendar(first: date, n_days: int) -> _Days:
    dates = [first + timedelta(days=i) for i in range(n_days)]
    kind = np.array([_day_kind(d) for d in dates], dtype=np.int64)
    weekday = np.array([d.weekday() for d in dates], dtype=np.int64)
    volume = np.where(
        kind == DAY_WORK,
        np.take(WORKDAY_VOLUME, weekday),
        np.where(kind == DAY_REST, np.take(REST_VOLUME, weekday), HOLIDAY_VOLUME),
    ).astype(np.float64)
    # A run of three or more days off that contains a public holiday is a long holiday.
    run = 0
    had_holiday = False
    boost_left = 0
    for i in range(n_days):
        if kind[i] != DAY_WORK:
            run += 1
            had_holiday = had_holiday or kind[i] == DAY_HOLIDAY
            continue
        if run >= 3 and had_holiday:
            boost_left = len(POST_HOLIDAY_BOOST)
        run, had_holiday = 0, False
        if boost_left:
            volume[i] *= POST_HOLIDAY_BOOST[len(POST_HOLIDAY_BOOST) - boost_left]
            boost_left -= 1
    return _Days(kind=kind, weekday=weekday, volume=volume)


def _open_table() -> Arr:
    """open[team, day kind, hour]: whether the team is staffed in that hour."""
    table = np.zeros((len(TEAMS), 3, 24), dtype=bool)
    for t, by_kind in enumerate(TEAM_HOURS):
        for k, (first, last) in enumerate(by_kind):
            table[t, k, first:last] = True
    return table


# --- staffed-time clock --------------------------------------------------------------------------


class _Clock:
    """Staffed time per team: work seconds accrue at the team's speed while it is on duty.

    Durations are drawn as work effort, so a ticket that arrives at night waits for the morning
    and one that needs work during a short-staffed week takes longer in wall time.
    """

    def __init__(self, t0: int, rate: Arr) -> None:
        self.t0 = t0
        self.rate = rate  # (teams, hours): work seconds per wall second
        self.hours = rate.shape[1]
        zero = np.zeros((rate.shape[0], 1))
        self.cum = np.concatenate([zero, np.cumsum(rate * HOUR, axis=1)], axis=1)

    def work(self, team: Arr, t: Arr) -> Arr:
        rel = t - self.t0
        h = np.clip(rel // HOUR, 0, self.hours - 1)
        into = np.clip(rel - h * HOUR, 0, HOUR)
        result: Arr = self.cum[team, h] + self.rate[team, h] * into
        return result

    def wall(self, team: Arr, w: Arr) -> Arr:
        out = np.empty(len(w), dtype=np.int64)
        for k in range(self.rate.shape[0]):
            mask = team == k
            if not mask.any():
                continue
            cum = self.cum[k]
            x = np.minimum(w[mask], cum[-1] - 1.0)
            # side="right" lands on the last hour starting at or before x: the staffed hour.
            h = np.clip(np.searchsorted(cum, x, side="right") - 1, 0, self.hours - 1)
            r = self.rate[k, h]
            off = np.where(r > 0, (x - cum[h]) / np.where(r > 0, r, 1.0), 0.0)
            out[mask] = self.t0 + h * HOUR + np.ceil(off).astype(np.int64)
        return out


# --- helpers -------------------------------------------------------------------------------------


def _epoch(day: date) -> int:
    return (day - date(1970, 1, 1)).days * DAY


def _choice_rows(rng: np.random.Generator, weights: Arr) -> Arr:
    """One draw per row from row-wise weights (rows need not sum to one)."""
    cum = np.cumsum(weights, axis=1)
    u = rng.random(len(weights)) * cum[:, -1]
    picked: Arr = np.minimum((cum <= u[:, None]).sum(axis=1), weights.shape[1] - 1)
    return picked


def _lognormal(rng: np.random.Generator, median: Arr | float, sigma: float, n: int) -> Arr:
    result: Arr = np.asarray(median) * np.exp(sigma * rng.standard_normal(n))
    return result


def _agent_names(count: int) -> list[str]:
    """Unique Chinese names, the rude agent's first, in an order that does not depend on seed."""
    pool = [s + g for g in _GIVEN for s in _SURNAMES if s + g != pl.RUDE_AGENT]
    order = np.random.default_rng(20250901).permutation(len(pool))
    names = [pl.RUDE_AGENT] + [pool[i] for i in order]
    if count > len(names):
        # Very large centres: disambiguate the way HR systems do, with a number.
        names += [f"{names[i % len(names)]}{i // len(names) + 1}" for i in range(len(names), count)]
    return names[:count]


def _pick_on_shift(rng: np.random.Generator, onshift: Arr, hours: Arr) -> Arr:
    """For each hour, a random row index among rows on shift then (any row if none is)."""
    n_agents = onshift.shape[0]
    counts = onshift[:, hours].sum(axis=0)
    u = rng.random(len(hours))
    anyone = np.minimum((u * n_agents).astype(np.int64), n_agents - 1)
    rank = np.minimum((u * np.maximum(counts, 1)).astype(np.int64), np.maximum(counts - 1, 0))
    cum = np.cumsum(onshift[:, hours], axis=0, dtype=np.int32)
    on_shift_pick = (cum <= rank[None, :]).sum(axis=0)
    picked: Arr = np.where(counts > 0, on_shift_pick, anyone)
    return picked


def _ids(prefix: str, n: int, width: int = 6) -> pa.Array:
    width = max(width, len(str(n)))
    digits = pc.utf8_lpad(pc.cast(pa.array(np.arange(1, n + 1)), pa.string()), width, "0")
    return pc.binary_join_element_wise(prefix, digits, "")


def _ts(t: Arr, present: Arr | None = None) -> pa.Array:
    stamps = np.asarray(t, dtype=np.int64).astype("datetime64[s]")
    mask = None if present is None else ~np.asarray(present, dtype=bool)
    arr = pa.array(stamps, type=pa.timestamp("s"), mask=mask)
    # Arrow's cast gives "YYYY-MM-DD HH:MM:SS" several times faster than strftime.
    text = pc.replace_substring(pc.cast(arr, pa.string()), " ", "T", max_replacements=1)
    return pc.binary_join_element_wise(text, "+08:00", "")


def _labels(
    labels: tuple[str, ...] | list[str], codes: Arr, present: Arr | None = None
) -> pa.Array:
    mask = None if present is None else ~np.asarray(present, dtype=bool)
    idx = pa.array(np.asarray(codes, dtype=np.int64), mask=mask)
    return pa.array(list(labels), type=pa.string()).take(idx)


def _ints(values: Arr, present: Arr | None = None) -> pa.Array:
    mask = None if present is None else ~np.asarray(present, dtype=bool)
    return pa.array(np.asarray(values, dtype=np.int64), mask=mask)


# --- the simulation ----------------------------------------------------------------------------


class _Simulation:
    """Draws everything once, in a fixed order, so that a seed fixes every byte."""

    def __init__(
        self, rng: np.random.Generator, start: date, weeks: int, days: _Days, size: int
    ) -> None:
        self.rng = rng
        self.start = start
        self.n_days = 7 * weeks
        self.days = days
        self.t0 = _epoch(start)
        self.end = self.t0 + self.n_days * DAY
        self.open = _open_table()
        shortage = pl.shortage_week(start, weeks)
        self.shortage_days = np.zeros(len(days.kind), dtype=bool)
        if shortage is not None:
            first = (shortage - start).days
            self.shortage_days[first : first + 7] = True
        surge = pl.delivery_surge_start(start, weeks)
        self.surge_days = np.zeros(len(days.kind), dtype=bool)
        if surge is not None:
            first = (surge - start).days
            self.surge_days[first : first + pl.DELIVERY_SURGE_DAYS] = True
        self.day_noise = rng.lognormal(0.0, 0.07, self.n_days)
        self._arrivals(size)
        self.ticket_ids = _ids("T", size)
        self._attributes()
        self._organisation()
        self._roster()
        self._timeline()
        self._assign_agents()
        self._events()
        self._calls()
        self._feedback()

    # -- tickets --

    def _hour_weights(self) -> Arr:
        """Expected tickets per hour of the period (unnormalised)."""
        kind = self.days.kind[: self.n_days]
        vol = self.days.volume[: self.n_days] * self.day_noise
        vol = vol * np.where(self.surge_days[: self.n_days], pl.DELIVERY_SURGE_VOLUME, 1.0)
        profile = np.where((kind == DAY_WORK)[:, None], WORKDAY_HOURS, REST_HOURS)
        weights: Arr = (vol[:, None] * profile).ravel()
        return weights

    def _arrivals(self, size: int) -> None:
        rng = self.rng
        self.hour_weights = self._hour_weights()
        counts = rng.multinomial(size, self.hour_weights / self.hour_weights.sum())
        hour = np.repeat(np.arange(len(counts)), counts)
        created = self.t0 + hour * HOUR + rng.integers(0, HOUR, size)
        order = np.argsort(created, kind="stable")
        self.created = created[order]
        self.hour = hour[order]
        self.n = size

    def _attributes(self) -> None:
        rng, n = self.rng, self.n
        day = self.hour // 24
        hod = self.hour % 24
        kind = self.days.kind[day]
        self.created_day = day

        avail = np.ones((n, len(CHANNELS)), dtype=bool)
        avail[:, CH_PHONE] = self.open[T_PHONE, kind, hod]
        avail[:, CH_WALK_IN] = self.open[T_STORE, kind, hod]
        self.channel = _choice_rows(rng, avail * np.asarray(CHANNEL_WEIGHTS))
        self.site = rng.choice(len(SITES), n, p=np.asarray(SITE_WEIGHTS))

        cat_w = np.tile(np.asarray(CATEGORY_WEIGHTS), (n, 1))
        self.surge = self.surge_days[day]
        cat_w[self.surge, _CAT_SURGE] *= pl.DELIVERY_SURGE_WEIGHT
        category = _choice_rows(rng, cat_w)

        # Each site has its own customers, so a repeat complaint stays at its site.
        pool = np.maximum(50, np.round(np.asarray(SITE_WEIGHTS) * n * 1.5)).astype(np.int64)
        offset = np.concatenate([[0], np.cumsum(pool)[:-1]])
        customer = offset[self.site] + rng.integers(0, pool[self.site])
        self.customer_english = rng.random(int(pool.sum())) < ENGLISH_SHARE

        # Planted repeat complaints: copy the customer and category of an earlier ticket of the
        # same site from the last seven days.
        prob = np.where(self.site == _SITE_REPEAT, pl.REPEAT_PROB_PLANTED, pl.REPEAT_PROB_OTHER)
        wants = rng.random(n) < prob
        pick = rng.random(n)
        parent = np.arange(n)
        window = pl.REPEAT_WINDOW_DAYS * DAY
        for s in range(len(SITES)):
            idx = np.flatnonzero(self.site == s)
            times = self.created[idx]
            rep = np.flatnonzero(wants[idx])
            lo = np.searchsorted(times, times[rep] - window + HOUR, side="left")
            hi = np.searchsorted(times, times[rep] - HOUR, side="right")
            ok = hi > lo
            choice = lo + (pick[idx[rep]] * (hi - lo)).astype(np.int64)
            parent[idx[rep[ok]]] = idx[choice[ok]]
        self.repeat = parent != np.arange(n)
        root = parent
        while True:
            nxt = root[root]
            if np.array_equal(nxt, root):
                break
            root = nxt
        self.customer = customer[root]
        self.category = category[root]

        self.priority = _choice_rows(rng, np.asarray(PRIORITY_BY_CATEGORY)[self.category])
        u = rng.random(n)
        remote = self.channel != CH_WALK_IN
        tech = remote & np.isin(self.category, (CAT_QUALITY, CAT_REPAIR)) & (u < 0.7)
        complaint = remote & np.isin(self.category, (CAT_ATTITUDE, CAT_FEES)) & (u < 0.65)
        default = np.asarray(CHANNEL_TEAM)[self.channel]
        self.team = np.where(tech, T_TECH, np.where(complaint, T_COMPLAINT, default))
        self.english = self.customer_english[self.customer]
        self.subject_pick = rng.random(n)

    # -- organisation and roster --

    def _organisation(self) -> None:
        """Teams sized to the ticket volume, so any ``size`` gives a plausible workload."""
        group_of = np.zeros((len(TEAMS), len(SITES)), dtype=np.int64)
        group_team: list[int] = []
        group_site: list[int] = []
        for t in range(len(TEAMS)):
            if t == T_STORE:
                for s in range(len(SITES)):
                    group_of[t, s] = len(group_team)
                    group_team.append(t)
                    group_site.append(s)
            else:
                group_of[t, :] = len(group_team)
                group_team.append(t)
                group_site.append(-1)
        self.group = group_of[self.team, self.site]
        self.group_team = np.asarray(group_team)
        counts = np.bincount(self.group, minlength=len(group_team))
        headcount = [
            max(
                TEAM_MIN_HEADCOUNT[t],
                math.ceil(counts[g] / self.n_days / TEAM_CAPACITY[t] / ATTENDANCE),
            )
            for g, t in enumerate(group_team)
        ]
        names = _agent_names(sum(headcount))
        # Number the rude agent's team first, so that its first member gets the first name.
        order = [_T_RUDE] + [t for t in range(len(TEAMS)) if t != _T_RUDE]
        agent_groups: list[Arr] = [np.zeros(0, dtype=np.int64)] * len(group_team)
        agent_team: list[int] = []
        agent_site: list[int] = []
        for t in order:
            for g in np.flatnonzero(self.group_team == t):
                members = np.arange(len(agent_team), len(agent_team) + headcount[g])
                agent_groups[g] = members
                for i in range(headcount[g]):
                    agent_team.append(t)
                    agent_site.append(group_site[g] if group_site[g] >= 0 else i % len(SITES))
        self.agent_names = names
        self.agent_team = np.asarray(agent_team)
        self.agent_site = np.asarray(agent_site)
        self.agent_groups = agent_groups
        self.headcount = headcount

    def _roster(self) -> None:
        """Shifts per agent and day, and each team's working speed per day.

        A team's speed is the share of the staff it needs that is on duty, from the planned
        fraction rather than the rounded head count, so a small demo behaves like a large one.
        """
        rng = self.rng
        n_days_all = len(self.days.kind)
        hours = n_days_all * 24
        n_teams = len(TEAMS)
        self.onshift = np.zeros((len(self.agent_names), hours), dtype=bool)
        rate_day = np.ones((n_teams, n_days_all))
        shifts: list[tuple[int, int, int, int]] = []  # day, agent, start hour, end hour
        for g, members in enumerate(self.agent_groups):
            t = int(self.group_team[g])
            head = len(members)
            recent = np.zeros(head)  # days worked in the last week, for a fair rotation
            history: list[Arr] = []
            for d in range(n_days_all):
                kind = int(self.days.kind[d])
                first, last = TEAM_HOURS[t][kind]
                spans = (
                    [(first, last)] if last - first <= 9 else [(first, first + 8), (last - 8, last)]
                )
                # The weekend team's thin roster is planted in its timeline (see _timeline).
                thin = pl.WEEKEND_STAFF_FACTOR if t == _T_SLOW and kind == DAY_REST else 1.0
                short = pl.SHORTAGE_STAFF_FACTOR if t in _T_SHORT and self.shortage_days[d] else 1
                base = ATTENDANCE * self.days.volume[d]
                planned = min(base * short, MAX_ATTENDANCE)
                rate_day[t, d] = planned / base
                want = round(head * min(base * short * thin, MAX_ATTENDANCE))
                n_on = int(np.clip(want, len(spans), head))
                chosen = np.argsort(recent + rng.random(head) * 0.5, kind="stable")[:n_on]
                worked = np.zeros(head)
                worked[chosen] = 1.0
                history.append(worked)
                recent += worked
                if len(history) > 6:
                    recent -= history.pop(0)
                for i, a in enumerate(np.sort(chosen)):
                    s0, s1 = spans[i % len(spans)]
                    agent = int(members[a])
                    self.onshift[agent, d * 24 + s0 : d * 24 + s1] = True
                    if d < self.n_days:
                        shifts.append((d, agent, s0, s1))
        self.shifts = shifts
        open_hours = self.open[:, self.days.kind, :]  # (teams, days, 24)
        rate = (rate_day[:, :, None] * open_hours).reshape(n_teams, hours)
        self.rate_day = rate_day
        self.clock = _Clock(self.t0, rate)

    # -- timeline of each ticket --

    def _timeline(self) -> None:
        rng, n, clock = self.rng, self.n, self.clock
        team, ch, cat, prio = self.team, self.channel, self.category, self.priority
        created = self.created
        frt_median = np.maximum(np.take(FRT_MEDIAN_S, ch), np.take(TEAM_FRT_MEDIAN_S, team))
        frt = _lognormal(rng, frt_median * np.take(FRT_PRIORITY, prio), 0.8, n)
        first_reply = clock.wall(team, clock.work(team, created) + frt)
        first_reply = np.maximum(first_reply, created + 1)
        # Planted: the weekend team's tickets from rest days wait and take longer, by a fixed
        # factor of elapsed time (moved on to the next staffed moment when that falls at night).
        slow = (team == _T_SLOW) & (self.days.kind[self.created_day] == DAY_REST)
        k = pl.WEEKEND_SLOWDOWN
        stretched = created + (k * (first_reply - created)).astype(np.int64)
        first_reply = np.where(slow, self._next_staffed(team, stretched), first_reply)

        fcr = rng.random(n) < np.take(FCR_PROB, ch)
        median_h = np.take(RES_MEDIAN_H, cat) * np.take(RES_PRIORITY, prio)
        median_h = median_h * np.take(RES_CHANNEL, ch)
        effort = np.where(
            fcr, _lognormal(rng, 480.0, 0.5, n), _lognormal(rng, median_h * HOUR, 0.9, n)
        )
        effort = np.minimum(effort, 300.0 * HOUR)
        w_reply = clock.work(team, first_reply)
        solved = clock.wall(team, w_reply + effort)
        stretched = first_reply + (k * (solved - first_reply)).astype(np.int64)
        solved = np.where(slow, self._next_staffed(team, stretched), solved)
        w_solved = clock.work(team, solved)

        x1 = ~fcr & (rng.random(n) < 0.55)
        x2 = x1 & (rng.random(n) < 0.35)
        hold = ~fcr & (rng.random(n) < np.take(HOLD_PROB, cat))
        frac = np.sort(rng.random((n, 6)), axis=1)
        mid_w = w_reply[:, None] + frac * (w_solved - w_reply)[:, None]
        mid = clock.wall(np.repeat(team, 6), mid_w.ravel()).reshape(n, 6)

        reopen = rng.random(n) < np.take(REOPEN_PROB, cat)
        back = solved + np.minimum(_lognormal(rng, 20.0 * HOUR, 0.9, n), 88.0 * HOUR).astype(
            np.int64
        )
        re_reply = clock.wall(team, clock.work(team, back) + _lognormal(rng, 1800.0, 0.8, n))
        re_solved = clock.wall(team, clock.work(team, re_reply) + _lognormal(rng, 7200.0, 0.8, n))
        final = np.where(reopen, re_solved, solved)
        closed = (final + AUTO_CLOSE_HOURS * HOUR + HOUR - 1) // HOUR * HOUR
        closed = np.maximum(closed, final + 1)

        grab = np.minimum((first_reply - created) // 2, _lognormal(rng, 90.0, 0.7, n))
        assigned = first_reply - np.maximum(grab, 1).astype(np.int64)
        bot = np.isin(ch, (CH_CHAT, CH_APP)) & (rng.random(n) < 0.6)
        bot_at = created + rng.integers(2, 7, n)

        self.fcr, self.x1, self.x2, self.hold, self.reopen = fcr, x1, x2, hold, reopen
        self.due = created + np.take(SLA_HOURS, prio) * HOUR
        self.final_solved = final
        self.first_reply_planned = first_reply
        # Slots in the order they happen; a ticket uses a subset of them.
        times = np.stack(
            [
                created,
                bot_at,
                assigned,
                first_reply,
                mid[:, 0],
                mid[:, 1],
                mid[:, 2],
                mid[:, 3],
                mid[:, 4],
                mid[:, 5],
                solved,
                back,
                re_reply,
                re_solved,
                closed,
            ],
            axis=1,
        )
        yes = np.ones(n, dtype=bool)
        present = np.stack(
            [yes, bot, yes, yes, x1, x1, x2, x2, hold, hold, yes, reopen, reopen, reopen, yes],
            axis=1,
        )
        # Events of one ticket are at least a second apart, so their order is never ambiguous.
        last = np.full(n, np.iinfo(np.int64).min)
        for slot in range(times.shape[1]):
            fixed = np.maximum(times[:, slot], last + 1)
            times[:, slot] = np.where(present[:, slot], fixed, times[:, slot])
            last = np.where(present[:, slot], times[:, slot], last)
        self.slot_times = times
        self.slot_present = present

    def _next_staffed(self, team: Arr, t: Arr) -> Arr:
        """``t`` itself if the team is on duty then, else the start of its next staffed hour."""
        moved: Arr = np.maximum(self.clock.wall(team, self.clock.work(team, t)), t)
        return moved

    def _assign_agents(self) -> None:
        """The agent on duty when the ticket is picked up: at the call or counter, else at reply."""
        at = np.where(
            np.isin(self.channel, (CH_PHONE, CH_WALK_IN)), self.created, self.first_reply_planned
        )
        hours = np.clip((at - self.t0) // HOUR, 0, self.onshift.shape[1] - 1)
        agent = np.zeros(self.n, dtype=np.int64)
        for g, members in enumerate(self.agent_groups):
            idx = np.flatnonzero(self.group == g)
            if len(idx):
                agent[idx] = members[_pick_on_shift(self.rng, self.onshift[members], hours[idx])]
        self.agent = agent

    # -- the event log, cut at the export moment --

    _SLOT_ACTIVITY = (
        "created", "agent_replied", "assigned", "agent_replied", "customer_replied",
        "agent_replied", "customer_replied", "agent_replied", "status_changed", "status_changed",
        "solved", "reopened", "agent_replied", "solved", "closed",
    )  # fmt: skip
    _SLOT_PUBLIC = (
        True, True, False, True, True, True, True, True, False, False, True, True, True, True,
        False,
    )  # fmt: skip
    _ACTIVITIES = (
        "created", "assigned", "agent_replied", "customer_replied", "status_changed", "solved",
        "reopened", "closed",
    )  # fmt: skip
    _ACTORS = ("agent", "customer", "system", "bot")

    def _events(self) -> None:
        n = self.n
        k = len(self._SLOT_ACTIVITY)
        status = np.full((n, k), -1, dtype=np.int64)
        status[:, 0] = ST_NEW
        status[:, 2] = ST_OPEN
        status[:, 3] = np.where(self.x1, ST_PENDING, -1)
        status[:, 4] = ST_OPEN
        status[:, 5] = np.where(self.x2, ST_PENDING, -1)
        status[:, 6] = ST_OPEN
        status[:, 8] = ST_ON_HOLD
        status[:, 9] = ST_OPEN
        status[:, 10] = ST_SOLVED
        status[:, 11] = ST_OPEN
        status[:, 13] = ST_SOLVED
        status[:, 14] = ST_CLOSED
        kept = self.slot_present & (self.slot_times < self.end)
        last_status = k - 1 - np.argmax((kept & (status >= 0))[:, ::-1], axis=1)
        rows = np.arange(n)
        self.status = status[rows, last_status]
        last_event = k - 1 - np.argmax(kept[:, ::-1], axis=1)
        self.updated = self.slot_times[rows, last_event]
        times = self.slot_times
        self.first_reply = np.where(kept[:, 3], times[:, 3], 0)
        self.has_first_reply = kept[:, 3]
        is_solved = np.isin(self.status, (ST_SOLVED, ST_CLOSED))
        self.resolved = np.where(kept[:, 13], times[:, 13], times[:, 10])
        self.has_resolved = is_solved
        self.closed = times[:, 14]
        self.has_closed = kept[:, 14]
        self.reopened = kept[:, 11]
        self.has_agent = kept[:, 2]

        customer_opens = np.isin(self.channel, (CH_CHAT, CH_EMAIL, CH_APP))
        actor_type = np.empty((n, k), dtype=np.int64)
        actor_type[:] = np.array([0, 3, 2, 0, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0, 2])
        actor_type[:, 0] = np.where(customer_opens, 1, 2)
        ticket, slot = np.nonzero(kept)
        t = times[ticket, slot]
        order = np.lexsort((slot, ticket, t))
        self.ev_ticket = ticket[order]
        self.ev_slot = slot[order]
        self.ev_time = t[order]
        self.ev_status = status[self.ev_ticket, self.ev_slot]
        self.ev_actor_type = actor_type[self.ev_ticket, self.ev_slot]

    # -- calls --

    def _calls(self) -> None:
        rng = self.rng
        hours_all = self.onshift.shape[1]
        period_hours = self.n_days * 24
        phone_agents = self.agent_groups[int(np.flatnonzero(self.group_team == T_PHONE)[0])]

        # Expected phone traffic per hour follows ticket arrivals where the line is open.
        kind = np.repeat(self.days.kind[: self.n_days], 24)
        hod = np.tile(np.arange(24), self.n_days)
        line_open = self.open[T_PHONE, kind, hod]
        other_w = np.asarray(CHANNEL_WEIGHTS)[1:].sum() - CHANNEL_WEIGHTS[CH_WALK_IN]
        store_open = self.open[T_STORE, kind, hod]
        share = CHANNEL_WEIGHTS[CH_PHONE] / (
            CHANNEL_WEIGHTS[CH_PHONE] + other_w + store_open * CHANNEL_WEIGHTS[CH_WALK_IN]
        )
        load = self.hour_weights * line_open * share
        # Occupancy: the roster follows the daily forecast, so what moves it is an hour busier
        # than the day's average and a day with fewer staff than needed (the short-staffed week,
        # the days after a long holiday). Waits follow an M/M/c-like rho / (1 - rho) curve.
        profile = np.where(kind == DAY_WORK, np.take(WORKDAY_HOURS, hod), np.take(REST_HOURS, hod))
        day_mean = np.array(
            [
                profile[d * 24 : d * 24 + 24][line_open[d * 24 : d * 24 + 24]].mean()
                for d in range(self.n_days)
            ]
        )
        busy = profile / np.repeat(day_mean, 24)
        speed = np.repeat(self.rate_day[T_PHONE, : self.n_days], 24)
        rho = np.clip(CALL_BASE_OCCUPANCY * busy**0.6 / speed, 0.05, CALL_MAX_OCCUPANCY)
        mean_wait = np.zeros(hours_all)
        mean_wait[:period_hours] = np.where(line_open, CALL_WAIT_SCALE_S * rho / (1.0 - rho), 0)

        phone = np.flatnonzero(self.channel == CH_PHONE)
        n_origin = len(phone)
        # Follow-up calls about an open case, at staffed times between creation and solution.
        n_follow = int(rng.poisson(FOLLOW_UP_CALLS * n_origin))
        follow_of = phone[rng.integers(0, max(n_origin, 1), n_follow)] if n_origin else phone[:0]
        lo = self.clock.work(np.full(n_follow, T_PHONE), self.created[follow_of])
        hi = self.clock.work(np.full(n_follow, T_PHONE), self.final_solved[follow_of])
        follow_at = self.clock.wall(
            np.full(n_follow, T_PHONE), lo + rng.random(n_follow) * np.maximum(hi - lo, 0)
        )
        follow_ok = (follow_at > self.created[follow_of]) & (follow_at < self.end)
        follow_of, follow_at = follow_of[follow_ok], follow_at[follow_ok]
        n_follow = len(follow_of)
        n_other = max(0, round(CALLS_PER_PHONE_TICKET * n_origin) - n_origin - n_follow)
        p = load / load.sum() if load.sum() > 0 else np.full(period_hours, 1 / period_hours)
        other_hours = np.repeat(np.arange(period_hours), rng.multinomial(n_other, p))
        other_at = self.t0 + other_hours * HOUR + rng.integers(0, HOUR, n_other)

        n_calls = n_origin + n_follow + n_other
        origin = np.zeros(n_calls, dtype=bool)
        origin[:n_origin] = True
        ticket = np.concatenate([phone, follow_of, np.full(n_other, -1)])
        # Origin calls: the ticket is opened when the agent picks up, so the call fixes its time.
        pivot = np.concatenate([self.created[phone], follow_at, other_at])
        ivr = rng.integers(10, 46, n_calls)
        wait_hour = np.clip((pivot - self.t0) // HOUR, 0, hours_all - 1)
        wait = np.round(rng.exponential(1.0, n_calls) * mean_wait[wait_hour]).astype(np.int64)
        short = rng.random(n_calls) < 0.05
        patience = np.where(
            short,
            rng.integers(0, SHORT_ABANDON_S, n_calls),
            rng.exponential(CALL_PATIENCE_S, n_calls),
        ).astype(np.int64)
        answered = origin | (patience >= wait)
        queued = np.where(origin, pivot - wait, pivot)
        arrived = queued - ivr
        queue_s = np.where(answered, wait, patience)
        answered_at = queued + wait
        talk = np.round(_lognormal(rng, np.where(origin, 300.0, 200.0), 0.6, n_calls))
        has_hold = rng.random(n_calls) < 0.3
        hold_s = np.where(has_hold, np.round(_lognormal(rng, 45.0, 0.6, n_calls)), 0)
        wrap = np.round(_lognormal(rng, 40.0, 0.5, n_calls))
        talk = np.where(answered, talk, 0).astype(np.int64)
        hold_s = np.where(answered, hold_s, 0).astype(np.int64)
        wrap = np.where(answered, wrap, 0).astype(np.int64)
        ended = np.where(answered, answered_at + talk + hold_s, queued + queue_s)
        outcome = np.where(answered, 0, np.where(queue_s < SHORT_ABANDON_S, 2, 1))

        # The phone agent who answers: the ticket's own agent when the phone team owns it.
        ans_hour = np.clip((answered_at - self.t0) // HOUR, 0, hours_all - 1)
        agent = phone_agents[_pick_on_shift(rng, self.onshift[phone_agents], ans_hour)]
        linked = ticket >= 0
        own = linked & origin
        own[own] = self.team[ticket[own]] == T_PHONE
        agent = np.where(own, self.agent[np.maximum(ticket, 0)], agent)
        site = np.where(
            linked,
            self.site[np.maximum(ticket, 0)],
            rng.choice(len(SITES), n_calls, p=np.asarray(SITE_WEIGHTS)),
        )
        other_queue = rng.choice(len(CALL_QUEUES), n_calls, p=np.array([0.45, 0.25, 0.2, 0.1]))
        queue = np.where(
            linked, np.take(QUEUE_BY_CATEGORY, self.category[np.maximum(ticket, 0)]), other_queue
        )
        other_prio = rng.choice(len(PRIORITIES), n_calls, p=np.array([0.08, 0.80, 0.12, 0.0]))
        priority = np.where(linked, self.priority[np.maximum(ticket, 0)], other_prio)

        keep = (arrived >= self.t0) & (ended < self.end)
        order = np.lexsort((np.arange(n_calls), arrived))
        order = order[keep[order]]
        self.call = {
            "ticket": ticket[order],
            "arrived": arrived[order],
            "queued": queued[order],
            "answered_at": answered_at[order],
            "answered": answered[order],
            "ended": ended[order],
            "queue_s": queue_s[order],
            "talk": talk[order],
            "hold": hold_s[order],
            "wrap": wrap[order],
            "outcome": outcome[order],
            "agent": agent[order],
            "site": site[order],
            "queue": queue[order],
            "priority": priority[order],
        }

    # -- feedback --

    def _feedback(self) -> None:
        rng = self.rng
        rate = np.where(self.channel == CH_WALK_IN, FEEDBACK_RATE_WALK_IN, FEEDBACK_RATE)
        lag = np.minimum(_lognormal(rng, 3.0 * HOUR, 1.2, self.n), 7.0 * DAY).astype(np.int64)
        submitted = self.resolved + 60 + lag
        answers = (rng.random(self.n) < rate) & self.has_resolved & (submitted < self.end)
        fb = np.flatnonzero(answers)
        m = len(fb)
        cat, ch = self.category[fb], self.channel[fb]
        overdue = self.final_solved[fb] > self.due[fb]
        slow_reply = (self.first_reply_planned[fb] - self.created[fb]) > 12 * HOUR
        rude = self.agent[fb] == _RUDE_AGENT_INDEX
        surge = self.surge[fb] & (cat == _CAT_SURGE)
        walk_in = ch == CH_WALK_IN
        delivery = cat == CAT_DELIVERY
        # Aspects: attitude, speed, professionalism, price, environment, delivery. A driver is
        # how well that aspect went; most cases go well, and what went wrong pulls it below 0.
        drivers = np.stack(
            [
                1.2 - pl.RUDE_ATTITUDE_PENALTY * rude - 0.6 * (cat == CAT_ATTITUDE),
                1.8 - 2.0 * overdue - 0.8 * slow_reply,
                1.8 - 1.4 * self.reopened[fb] - 1.3 * self.repeat[fb] - 0.4 * overdue,
                1.6 - 1.4 * (cat == CAT_FEES) - 0.6 * ((cat == CAT_REFUND) & overdue),
                np.full(m, 1.6),
                0.9 - 0.7 * overdue - 2.2 * surge,
            ],
            axis=1,
        )
        mood = drivers + 0.7 * rng.standard_normal((m, 6))
        positive = mood > 0
        base = np.stack(
            [
                np.full(m, 0.40),
                np.full(m, 0.45),
                np.full(m, 0.45),
                np.where(np.isin(cat, (CAT_FEES, CAT_REFUND)), 0.60, 0.15),
                np.where(walk_in, 0.45, 0.0),
                np.where(delivery, 0.60, 0.0),
            ],
            axis=1,
        )
        eligible = base > 0
        # People write about what went wrong.
        p_mention = np.minimum(0.95, base + 0.35 * (~positive & eligible))
        mention = rng.random((m, 6)) < p_mention
        none = ~mention.any(axis=1)
        worst = np.argmin(np.where(eligible, mood, np.inf), axis=1)
        mention[none, worst[none]] = True
        # Rudeness weighs on the score like two complaints.
        n_neg = (mention & ~positive).sum(axis=1) + (mention[:, 0] & ~positive[:, 0])
        n_pos = (mention & positive).sum(axis=1)
        band = _score_band(rng, n_pos, n_neg)

        survey_nps = rng.random(m) < NPS_SHARE
        nps_lo = np.array([0, 2, 5, 7, 9])[band - 1]
        nps_hi = np.array([3, 5, 7, 9, 10])[band - 1]
        nps = nps_lo + (rng.random(m) * (nps_hi - nps_lo + 1)).astype(np.int64)
        english = self.english[fb]
        order_noise = rng.random((m, 6))
        picks = rng.random((m, 10))
        texts = [
            _compose(
                bool(english[i]),
                int(band[i]),
                int(cat[i]),
                mention[i],
                positive[i],
                order_noise[i],
                picks[i],
            )
            for i in range(m)
        ]
        order = np.lexsort((fb, submitted[fb]))
        self.fb = {
            "ticket": fb[order],
            "submitted": submitted[fb][order],
            "nps": survey_nps[order],
            "score": np.where(survey_nps, nps, band)[order],
            "english": english[order],
        }
        self.fb_text = [texts[i] for i in order]

    # -- tables --

    def tickets_table(self) -> dict[str, pa.Array]:
        ids = self.ticket_ids
        subject = _subjects(self.category, self.english, self.subject_pick)
        customer_ids = pc.binary_join_element_wise(
            "C",
            pc.utf8_lpad(pc.cast(pa.array(self.customer + 1), pa.string()), 7, "0"),
            "",
        )
        return {
            "ticket_id": ids,
            "created_at": _ts(self.created),
            "first_reply_at": _ts(self.first_reply, self.has_first_reply),
            "resolved_at": _ts(self.resolved, self.has_resolved),
            "closed_at": _ts(self.closed, self.has_closed),
            "due_at": _ts(self.due),
            "updated_at": _ts(self.updated),
            "channel": _labels(CHANNELS, self.channel),
            "category": _labels(CATEGORIES, self.category),
            "priority": _labels(PRIORITIES, self.priority),
            "status": _labels(STATUSES, self.status),
            "customer_id": customer_ids,
            "team": _labels(TEAMS, self.team),
            "agent": _labels(self.agent_names, self.agent, self.has_agent),
            "site": _labels(SITES, self.site),
            "subject": subject,
            "reopened": _ints(self.reopened),
        }

    def events_table(self) -> dict[str, pa.Array]:
        n_ev = len(self.ev_time)
        ticket = pa.array(self.ev_ticket)
        actor_type = self.ev_actor_type
        agent_names = _labels(self.agent_names, self.agent[self.ev_ticket])
        customer = self._customer_ids().take(pa.array(self.customer[self.ev_ticket]))
        actor = pc.if_else(
            pa.array(actor_type == 0),
            agent_names,
            pc.if_else(
                pa.array(actor_type == 1),
                customer,
                pc.if_else(pa.array(actor_type == 3), BOT_NAME, SYSTEM_ACTOR),
            ),
        )
        activity_code = np.array(
            [self._ACTIVITIES.index(a) for a in self._SLOT_ACTIVITY], dtype=np.int64
        )[self.ev_slot]
        return {
            "event_id": _ids("E", n_ev, 7),
            "ticket_id": self.ticket_ids.take(ticket),
            "activity": _labels(self._ACTIVITIES, activity_code),
            "timestamp": _ts(self.ev_time),
            "actor": actor,
            "actor_type": _labels(self._ACTORS, actor_type),
            "status": _labels(STATUSES, np.maximum(self.ev_status, 0), self.ev_status >= 0),
            "public": pa.array(np.asarray(self._SLOT_PUBLIC)[self.ev_slot]),
        }

    def _customer_ids(self) -> pa.Array:
        total = len(self.customer_english)
        return pc.binary_join_element_wise(
            "C", pc.utf8_lpad(pc.cast(pa.array(np.arange(1, total + 1)), pa.string()), 7, "0"), ""
        )

    def feedback_table(self) -> dict[str, pa.Array]:
        f = self.fb
        t = f["ticket"]
        m = len(t)
        nps = f["nps"]
        return {
            "feedback_id": _ids("F", m),
            "ticket_id": self.ticket_ids.take(pa.array(t)),
            "submitted_at": _ts(f["submitted"]),
            "survey": _labels(("csat", "nps"), nps.astype(np.int64)),
            "score": _ints(f["score"]),
            "scale_min": _ints(np.where(nps, 0, 1)),
            "scale_max": _ints(np.where(nps, 10, 5)),
            "site": _labels(SITES, self.site[t]),
            "team": _labels(TEAMS, self.team[t]),
            "agent": _labels(self.agent_names, self.agent[t]),
            "channel": _labels(CHANNELS, self.channel[t]),
            "text": pa.array(self.fb_text, type=pa.string()),
            "language": _labels(("zh", "en"), f["english"].astype(np.int64)),
        }

    def calls_table(self) -> dict[str, pa.Array]:
        c = self.call
        n_calls = len(c["arrived"])
        linked = c["ticket"] >= 0
        answered = c["answered"]
        return {
            "call_id": _ids("CL", n_calls, 7),
            "ticket_id": pc.if_else(
                pa.array(linked), self.ticket_ids.take(pa.array(np.maximum(c["ticket"], 0))), None
            ),
            "arrived_at": _ts(c["arrived"]),
            "queued_at": _ts(c["queued"]),
            "answered_at": _ts(c["answered_at"], answered),
            "ended_at": _ts(c["ended"]),
            "queue_seconds": _ints(c["queue_s"]),
            "talk_seconds": _ints(c["talk"]),
            "hold_seconds": _ints(c["hold"]),
            "wrap_seconds": _ints(c["wrap"]),
            "outcome": _labels(("answered", "abandoned", "short_abandoned"), c["outcome"]),
            "agent": _labels(self.agent_names, c["agent"], answered),
            "team": _labels(TEAMS, np.full(n_calls, T_PHONE)),
            "site": _labels(SITES, c["site"]),
            "queue": _labels(CALL_QUEUES, c["queue"]),
            "priority": _labels(PRIORITIES, c["priority"]),
        }

    def roster_table(self) -> dict[str, pa.Array]:
        rows = np.array(self.shifts, dtype=np.int64).reshape(-1, 4)
        order = np.lexsort((rows[:, 1], rows[:, 2], rows[:, 0]))
        rows = rows[order]
        day, agent = rows[:, 0], rows[:, 1]
        base = self.t0 + day * DAY
        return {
            "record_id": _ids("R", len(rows)),
            "agent": _labels(self.agent_names, agent),
            "team": _labels(TEAMS, self.agent_team[agent]),
            "site": _labels(SITES, self.agent_site[agent]),
            "start_at": _ts(base + rows[:, 2] * HOUR),
            "end_at": _ts(base + rows[:, 3] * HOUR),
            "kind": pa.array(["roster"] * len(rows), type=pa.string()),
        }


# --- survey scores and review texts --------------------------------------------------------------


def _score_band(rng: np.random.Generator, n_pos: Arr, n_neg: Arr) -> Arr:
    """A 1-5 score that agrees with what the text praises and criticises."""
    m = len(n_pos)
    probs = np.empty((m, 5))
    probs[:] = (0.0, 0.0, 0.04, 0.34, 0.62)  # nothing criticised
    mixed = (n_neg > 0) & (n_pos > 0)
    probs[mixed & (n_neg == 1)] = (0.05, 0.25, 0.45, 0.25, 0.0)
    probs[mixed & (n_neg >= 2)] = (0.20, 0.40, 0.35, 0.05, 0.0)
    only_bad = (n_neg > 0) & (n_pos == 0)
    probs[only_bad & (n_neg == 1)] = (0.35, 0.45, 0.20, 0.0, 0.0)
    probs[only_bad & (n_neg >= 2)] = (0.60, 0.40, 0.0, 0.0, 0.0)
    band: Arr = _choice_rows(rng, probs) + 1
    return band


# Review sentences per language, aspect (attitude, speed, professionalism, price, environment,
# delivery) and polarity. Written for this demo. Every negative attitude sentence contains one of
# planted.NEGATIVE_ATTITUDE_WORDS and every negative delivery sentence one of
# planted.DELIVERY_DELAY_WORDS; no positive sentence contains them.
_ZH_POS = (
    (
        "客服态度很好，说话很耐心",
        "工作人员非常热情，有问必答",
        "服务态度特别好，全程很有礼貌",
        "接待我的小姐姐很有耐心，解释得很清楚",
        "对方说话很客气，让人很舒服",
        "一直很礼貌地听我讲完，没有打断",
        "态度诚恳，一直在帮我想办法",
        "客服很友善，还主动跟进了进度",
    ),
    (
        "处理速度很快",
        "回复很及时，几分钟就有人接待",
        "当天就解决了，效率很高",
        "没怎么等就办好了",
        "响应速度超出预期",
        "排队时间很短，很快轮到我",
    ),
    (
        "问题一次就解决了",
        "业务很熟练，讲得很专业",
        "很快找到问题原因，方案也合理",
        "专业性很强，给了很实用的建议",
        "问题处理得很彻底，没有再出现",
        "流程讲得明明白白，一点不含糊",
    ),
    (
        "收费透明，没有乱收费",
        "退款很快就到账了",
        "价格合理，还送了优惠券作为补偿",
        "费用说明很清楚",
        "维修费比预想的便宜",
    ),
    (
        "门店环境干净整洁",
        "店里很舒适，等候区有座位还有水",
        "环境不错，指引也很清楚",
        "服务台很好找，店里也不吵",
    ),
    (
        "物流问题处理得很及时",
        "很快重新发了货，第二天就送到了",
        "帮我改了地址，送货很顺利",
        "包裹很快找回来了",
    ),
)
_ZH_NEG = (
    (
        "客服态度差，说话很冲",
        "服务态度恶劣，问两句就不耐烦了",
        "对方爱答不理的，感觉很敷衍",
        "客服很不礼貌，直接打断我说话",
        "态度差到极点，问什么都说不知道",
        "一副不耐烦的样子，让人很不舒服",
        "回复很敷衍，态度冷冰冰的",
        "说话语气很冲，一点都不尊重人",
    ),
    (
        "等了很久才有人回复",
        "排队排了半个多小时",
        "处理太慢了，拖了好几天",
        "一直在等，没有任何进展",
        "催了好几次才有人理",
        "电话一直打不通，等待时间太长",
    ),
    (
        "问题到现在还没解决",
        "客服不专业，一问三不知",
        "说法前后不一致，来回推诿",
        "同一个问题反复找了好几次",
        "给的方案根本没用",
        "转了三个人还是没说清楚",
    ),
    (
        "收费不透明，多扣了钱",
        "维修费太贵了",
        "退款迟迟不到账",
        "莫名其妙多了一笔费用",
        "运费还要自己出，不合理",
    ),
    (
        "店里太吵太挤了",
        "等候区没有座位，环境很差",
        "门店卫生一般，指示牌也不清楚",
        "店里空调太冷，等得很难受",
    ),
    (
        "快递延迟了好几天",
        "包裹到现在都没收到",
        "物流信息一直不更新，快递也没送到",
        "说好的次日达，结果延迟了三天",
        "显示已签收，可我根本没收到",
        "快递员联系不上，东西一直没收到",
    ),
)
_EN_POS = (
    (
        "The agent was very friendly and patient.",
        "Staff were polite and really helpful.",
        "She listened carefully and was kind throughout.",
        "Courteous service from start to finish.",
        "The person I spoke to was warm and respectful.",
    ),
    (
        "Quick response, sorted within minutes.",
        "Fast and efficient.",
        "They got back to me the same day.",
        "Hardly any waiting time.",
    ),
    (
        "Problem solved on the first contact.",
        "Knowledgeable staff who knew exactly what to do.",
        "Clear explanation and a sensible fix.",
        "They found the cause straight away.",
    ),
    (
        "Fair price and transparent fees.",
        "The refund arrived quickly.",
        "They gave me a voucher as compensation.",
    ),
    (
        "Clean and comfortable store.",
        "Nice waiting area and easy to find the service desk.",
    ),
    (
        "They resent the parcel and it arrived the next day.",
        "The shipping issue was handled promptly.",
    ),
)
_EN_NEG = (
    (
        "The agent was rude and kept interrupting me.",
        "Very impatient staff, I felt like a nuisance.",
        "Dismissive attitude, they barely listened.",
        "Impolite and unfriendly service.",
        "The staff member was rude when I asked for help.",
    ),
    (
        "Waited far too long for a reply.",
        "It took days to get this sorted.",
        "Long queue on the phone before anyone picked up.",
        "Had to chase them several times, very slow.",
    ),
    (
        "My problem is still not solved.",
        "They did not seem to know the product at all.",
        "Got different answers from different people.",
        "Had to contact them again about the same issue.",
    ),
    (
        "Overcharged and nobody could explain why.",
        "The repair fee was far too high.",
        "Still waiting for my refund.",
        "Hidden fees on my bill.",
    ),
    (
        "The store was crowded and noisy.",
        "No seats in the waiting area, not pleasant.",
    ),
    (
        "The parcel was delayed for days.",
        "The courier never showed up.",
        "Marked as delivered but I never received it.",
        "My order is delayed again with no update.",
    ),
)
_ZH_CONTEXT = (
    "这次是来问退款的事。",
    "问的是配送的问题。",
    "账号登录不上来求助。",
    "买的东西有质量问题。",
    "来反映服务的问题。",
    "对账单上的费用有疑问。",
    "约了上门维修安装。",
)
_EN_CONTEXT = (
    "I contacted them about a refund.",
    "This was about a delivery.",
    "I could not log in to my account.",
    "The product I bought was faulty.",
    "I wanted to complain about the service.",
    "I had a question about a charge.",
    "I booked a repair visit.",
)
_ZH_CLOSE = (
    ("非常失望。", "希望尽快整改。", "再也不想来了。", "太让人生气了！", "已经向上级反映了。"),
    ("非常失望。", "希望尽快改进。", "体验很差。", "不太满意。"),
    ("总体一般吧。", "还有改进空间。", "希望下次能更好。", "马马虎虎。"),
    ("总体满意。", "还不错，谢谢。", "下次还会再来。", "挺好的。"),
    ("五星好评！", "点赞！", "非常满意，谢谢！", "已经推荐给朋友了。", "下次还会再来。"),
)
_EN_CLOSE = (
    ("Very disappointed.", "Not coming back.", "Please fix this.", "Terrible experience."),
    ("Disappointed.", "Please improve.", "Not happy."),
    ("It was okay.", "Room for improvement.", "Hope it gets better."),
    ("Good overall, thanks.", "Satisfied.", "Would come back."),
    ("Five stars!", "Would recommend.", "Thanks a lot!", "Great job."),
)


def _pick(options: tuple[str, ...], u: float) -> str:
    return options[min(int(u * len(options)), len(options) - 1)]


def _lower_first(sentence: str) -> str:
    if sentence.startswith(("I ", "I'")):
        return sentence
    return sentence[:1].lower() + sentence[1:]


def _compose(
    english: bool,
    band: int,
    category: int,
    mention: Arr,
    positive: Arr,
    order_noise: Arr,
    picks: Arr,
) -> str:
    """One review: optional context, praise, then criticism, then a closing remark."""
    aspects = [int(a) for a in np.argsort(order_noise) if mention[a]]
    good = [a for a in aspects if positive[a]]
    bad = [a for a in aspects if not positive[a]]
    pos_lib, neg_lib = (_EN_POS, _EN_NEG) if english else (_ZH_POS, _ZH_NEG)
    good_s = [_pick(pos_lib[a], picks[i]) for i, a in enumerate(good)]
    bad_s = [_pick(neg_lib[a], picks[5 - i]) for i, a in enumerate(bad)]
    context = picks[6] < 0.35
    close = picks[7] < 0.55
    if english:
        parts = [_EN_CONTEXT[category]] if context else []
        parts += good_s
        if bad_s and good_s:
            lead = "Only one thing: " if band >= 4 else "However, "
            bad_s[0] = lead + _lower_first(bad_s[0])
        parts += bad_s
        if close:
            parts.append(_pick(_EN_CLOSE[band - 1], picks[8]))
        return " ".join(parts)
    text = _ZH_CONTEXT[category] if context else ""
    body = "，".join(good_s)
    if bad_s:
        joiner = ("，就是" if band >= 4 else "，但是") if good_s else ""
        body += joiner + "，".join(bad_s)
    end = "！" if picks[9] < 0.2 else "。"
    text += body + end
    if close:
        text += _pick(_ZH_CLOSE[band - 1], picks[8])
    return text


_SUBJECTS_ZH = (
    ("申请退款进度查询", "退款一直没有到账", "要求退货退款", "退款金额不对", "订单取消后怎么退款"),
    (
        "快递迟迟未送达",
        "物流信息不更新",
        "包裹显示签收但未收到",
        "要求修改配送地址",
        "预约配送时间",
    ),
    ("账号无法登录", "手机号换绑", "会员积分异常", "密码重置失败", "实名认证审核问题"),
    ("商品有质量问题", "收到的商品破损", "用了一周就坏了", "商品与描述不符", "要求换货"),
    ("投诉客服态度", "门店员工服务态度差", "对处理结果不满意", "电话被挂断", "反映服务问题"),
    ("账单金额有误", "被重复扣费", "运费收取有疑问", "优惠券未生效", "维修收费不合理"),
    ("预约上门安装", "上门维修进度", "安装师傅未按时上门", "报修后无人联系", "维修后仍有故障"),
)
_SUBJECTS_EN = (
    ("Refund status", "Refund not received", "Return and refund request", "Wrong refund amount"),
    ("Parcel not delivered", "Tracking not updated", "Marked delivered but not here"),
    ("Cannot log in", "Change phone number", "Loyalty points missing", "Password reset fails"),
    ("Defective product", "Item arrived damaged", "Broke after a week", "Item not as described"),
    ("Complaint about staff attitude", "Rude staff at the store", "Unhappy with the handling"),
    ("Wrong amount on bill", "Charged twice", "Question about shipping fee", "Coupon not applied"),
    ("Book an installation", "Repair status", "Technician did not show up", "Still faulty"),
)


def _subjects(category: Arr, english: Arr, u: Arr) -> pa.Array:
    flat: list[str] = []
    offset = np.zeros((len(CATEGORIES), 2), dtype=np.int64)
    length = np.zeros((len(CATEGORIES), 2), dtype=np.int64)
    for code, lib in enumerate((_SUBJECTS_ZH, _SUBJECTS_EN)):
        for c, options in enumerate(lib):
            offset[c, code] = len(flat)
            length[c, code] = len(options)
            flat.extend(options)
    lang = english.astype(np.int64)
    n_opt = length[category, lang]
    idx = offset[category, lang] + np.minimum((u * n_opt).astype(np.int64), n_opt - 1)
    return pa.array(flat, type=pa.string()).take(pa.array(idx))


# --- CSV -----------------------------------------------------------------------------------------

_NEEDS_QUOTES = '[",\n\r]'
_CHUNK = 200_000


def _csv_cell(arr: pa.Array) -> pa.Array:
    text = arr if pa.types.is_string(arr.type) else pc.cast(arr, pa.string())
    needs = pc.match_substring_regex(text, _NEEDS_QUOTES)
    if pc.any(needs).as_py():
        quoted = pc.binary_join_element_wise('"', pc.replace_substring(text, '"', '""'), '"', "")
        text = pc.if_else(needs, quoted, text)
    return pc.fill_null(text, "")


def _write_csv(path: Path, columns: dict[str, pa.Array]) -> int:
    """Write RFC 4180 CSV with minimal quoting (as spreadsheet exports do); return data rows."""
    names = list(columns)
    cells = [_csv_cell(columns[name]) for name in names]
    n_rows = len(cells[0]) if cells else 0
    with path.open("wb") as out:
        out.write((",".join(names) + "\n").encode("utf-8"))
        for first in range(0, n_rows, _CHUNK):
            chunk = [c.slice(first, _CHUNK) for c in cells]
            lines = pc.binary_join_element_wise(*chunk, ",") if len(chunk) > 1 else chunk[0]
            out.write(("\n".join(lines.to_pylist()) + "\n").encode("utf-8"))
    return n_rows
