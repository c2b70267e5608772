"""The problems the demo data set hides on purpose, so analyses have something true to find.

Owns: the description of each planted problem (what, where, when, how to measure it, how strong
it is) and the parameters the generator uses to plant it. Imports no I/O; the generator imports
this module, never the other way round.

The organisation (sites, teams, the agent's name) is fixed, so the same names hold for any seed
and size. Dates depend on the generated period: ``plan_problems(start, weeks)`` resolves them,
and leaves out a problem whose dates fall outside the period.

>>> [p.id for p in PLANTED_PROBLEMS]  # doctest: +NORMALIZE_WHITESPACE
['repeat_complaints_site', 'weekend_slow_team', 'overdue_backlog_week', 'rude_agent',
 'post_holiday_delivery_surge']
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import chinese_calendar


@dataclass(frozen=True)
class PlantedProblem:
    """One problem planted in the demo data: what a later analysis should find, and how strong."""

    id: str
    title_en: str
    title_zh: str
    where: str  # the dimension value(s) that carry the problem, e.g. "site=广州天河店"
    when: str  # an ISO 8601 interval, or a recurring description
    metric: str  # the metric ids (see GLOSSARY.md) that show it
    expected_effect: str


# 1. Repeat complaints at one site.
REPEAT_SITE = "广州天河店"
REPEAT_WINDOW_DAYS = 7
# Probability that a ticket is the same customer coming back about the same category; chance
# coincidences add about half a point on top of each.
REPEAT_PROB_PLANTED = 0.20
REPEAT_PROB_OTHER = 0.05

# 2. A team that is slow on weekends because it is thinly staffed then.
WEEKEND_SLOW_TEAM = "售后技术组"
# Share of the team's normal rest-day staffing that is actually rostered on rest days, and the
# factor by which the first reply and resolution of tickets it gets on rest days are delayed.
WEEKEND_STAFF_FACTOR = 0.4
WEEKEND_SLOWDOWN = 2.6

# 3. A week with a staff shortage: the remote teams work at this share of their usual staffing.
SHORTAGE_STAFF_FACTOR = 0.3
SHORTAGE_TEAMS = ("电话客服组", "在线客服组", "邮件工单组", "售后技术组", "投诉处理组")
# Which week of the period (0-based) has the shortage: late enough that a baseline exists.
SHORTAGE_WEEK_SHARE = 0.6

# 4. One agent whom customers find rude.
RUDE_AGENT = "刘洋"
RUDE_AGENT_TEAM = "在线客服组"
# Lowers the agent's attitude driver; about half of their feedback then complains of attitude.
RUDE_ATTITUDE_PENALTY = 1.4

# 5. Delivery complaints after the National Day holiday.
DELIVERY_CATEGORY = "物流配送"
# Weight multiplier of the delivery category in the surge week, and extra volume that week.
DELIVERY_SURGE_WEIGHT = 3.2
DELIVERY_SURGE_VOLUME = 1.2
DELIVERY_SURGE_DAYS = 7

# Words by which a reader (or a test) can spot the planted texts; every negative template of the
# aspect contains at least one of them.
NEGATIVE_ATTITUDE_WORDS = (
    "态度差",
    "恶劣",
    "不耐烦",
    "爱答不理",
    "敷衍",
    "不礼貌",
    "很冲",
    "冷冰冰",
    "rude",
    "impolite",
    "impatient",
    "dismissive",
    "unfriendly",
)
DELIVERY_DELAY_WORDS = ("延迟", "快递", "没收到", "delayed", "courier", "never received")


def _monday_on_or_after(day: date) -> date:
    return day + timedelta(days=(7 - day.weekday()) % 7)


def shortage_week(start: date, weeks: int) -> date | None:
    """Monday of the planted staff-shortage week, or None when the period is too short.

    About 60% into the period, so that a baseline exists before and a recovery after; moved by
    a week or two when it would touch a public holiday or the delivery surge, so that each
    planted problem can be told apart.
    """
    if weeks < 3:
        return None
    end = start + timedelta(days=7 * weeks)
    aim = _monday_on_or_after(start + timedelta(days=7 * int(weeks * SHORTAGE_WEEK_SHARE)))
    surge = delivery_surge_start(start, weeks)
    for shift in (0, 7, -7, 14, -14):
        monday = aim + timedelta(days=shift)
        days = [monday + timedelta(days=i) for i in range(7)]
        if monday < start or days[-1] >= end:
            continue
        if any(_is_public_holiday(d) for d in days):
            continue
        if (
            surge is not None
            and surge <= days[-1]
            and monday < surge + timedelta(days=DELIVERY_SURGE_DAYS)
        ):
            continue
        return monday
    return None


def _is_workday(day: date) -> bool:
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        # Years the calendar package does not know yet: plain Monday-to-Friday.
        return day.weekday() < 5


def _is_public_holiday(day: date) -> bool:
    try:
        on_holiday, name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:
        return False
    return bool(on_holiday) and name is not None


def _national_day_end(year: int) -> date | None:
    """Last day of the National Day holiday block of ``year``, or None if the year is unknown."""
    try:
        chinese_calendar.is_holiday(date(year, 10, 1))
    except NotImplementedError:
        return None
    day = date(year, 10, 1)
    while not _is_workday(day + timedelta(days=1)):
        day += timedelta(days=1)
    return day


def delivery_surge_start(start: date, weeks: int) -> date | None:
    """First working day after a National Day holiday that lies in the period, or None."""
    end = start + timedelta(days=7 * weeks)
    for year in range(start.year, end.year + 1):
        last = _national_day_end(year)
        if last is None:
            continue
        first_workday = last + timedelta(days=1)
        if start <= first_workday and first_workday + timedelta(days=DELIVERY_SURGE_DAYS) <= end:
            return first_workday
    return None


def _interval(first: date, days: int) -> str:
    return f"{first.isoformat()}/{(first + timedelta(days=days - 1)).isoformat()}"


def plan_problems(start: date, weeks: int) -> tuple[PlantedProblem, ...]:
    """The problems planted in a period of ``weeks`` weeks from ``start``, with their dates."""
    period = _interval(start, 7 * weeks)
    problems = [
        PlantedProblem(
            id="repeat_complaints_site",
            title_en=f"High repeat-complaint rate at {REPEAT_SITE}",
            title_zh=f"{REPEAT_SITE}重复投诉率高",
            where=f"site={REPEAT_SITE}",
            when=period,
            metric=f"repeat_complaint_rate (same customer, same category, within "
            f"{REPEAT_WINDOW_DAYS} days)",
            expected_effect="about 3x the other sites (about 20% of its tickets against about 6%)",
        ),
        PlantedProblem(
            id="weekend_slow_team",
            title_en=f"{WEEKEND_SLOW_TEAM} is slow on weekends",
            title_zh=f"{WEEKEND_SLOW_TEAM}周末处理慢",
            where=f"team={WEEKEND_SLOW_TEAM}",
            when=f"Saturdays and Sundays that are rest days, {period}",
            metric="first_reply_time, full_resolution_time (elapsed hours: median or "
            "geometric mean)",
            expected_effect="about 2.5x the team's own weekday times (median or geometric "
            "mean), while other teams' weekend times stay within about 1.2x of their weekdays; "
            "the roster has fewer weekend shifts for the team",
        ),
    ]
    shortage = shortage_week(start, weeks)
    if shortage is not None:
        problems.append(
            PlantedProblem(
                id="overdue_backlog_week",
                title_en=f"Staff shortage and overdue backlog in the week of {shortage}",
                title_zh=f"{shortage} 当周人手不足，超时积压",
                where="teams=" + ",".join(SHORTAGE_TEAMS),
                when=_interval(shortage, 7),
                metric="overdue, backlog, sla_attainment, abandonment_rate",
                expected_effect="share of that week's tickets resolved after due_at (or still "
                "open past it) about 3x the median week (about 30% against 10%); the open "
                "backlog peaks at the end of the week at about 3x its median; the roster has "
                "about half the usual shifts of those teams; call abandonment about 3x",
            )
        )
    problems.append(
        PlantedProblem(
            id="rude_agent",
            title_en=f"Agent {RUDE_AGENT} ({RUDE_AGENT_TEAM}) has a poor service attitude",
            title_zh=f"{RUDE_AGENT_TEAM}坐席{RUDE_AGENT}服务态度差",
            where=f"agent={RUDE_AGENT}",
            when=period,
            metric="attitude_sentiment, csat",
            expected_effect="about 40% of the agent's feedback complains about attitude "
            "(态度差, 不耐烦, rude, ...) against about 5% for other agents; CSAT about 0.8 "
            "lower",
        )
    )
    surge = delivery_surge_start(start, weeks)
    if surge is not None:
        problems.append(
            PlantedProblem(
                id="post_holiday_delivery_surge",
                title_en="Surge of delivery complaints after the National Day holiday",
                title_zh="国庆节后物流配送投诉激增",
                where=f"category={DELIVERY_CATEGORY}",
                when=_interval(surge, DELIVERY_SURGE_DAYS),
                metric="ticket volume by category; feedback keywords 延迟/快递/没收到",
                expected_effect="delivery tickets about 3x a normal week; about 90% of the "
                "feedback on them mentions delays or parcels not received, against about 15% "
                "in other weeks",
            )
        )
    return tuple(problems)


PLANTED_PROBLEMS: tuple[PlantedProblem, ...] = plan_problems(date(2025, 9, 1), 12)
