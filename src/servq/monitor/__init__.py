"""Real-time monitoring: event intake, SLA timers, alert rules, the alert lifecycle and
notifications (capability C3).

Owns: the pieces of ``servq serve`` and ``servq worker``. Every piece takes the current time as
an argument instead of reading the wall clock, so tests and backtests replay history exactly.

- ``events``: the event model of ``POST /api/v1/events`` and of the NATS stream;
- ``store``: durable, de-duplicated intake and the live state of open cases;
- ``timers``: SLA deadlines of open cases on the business clock, warnings and breaches;
- ``rules``: alert rules in YAML (threshold, relative change, anomaly, risk words, spikes);
- ``alerts``: firing → acknowledged → resolved, de-duplication, silences, inhibition,
  escalation, repeat;
- ``notify``: webhook, e-mail, WeCom, DingTalk, Feishu and Slack deliveries with retries.

Everything that can raise an alert speaks :class:`~servq.monitor.signals.Signal`.
"""
