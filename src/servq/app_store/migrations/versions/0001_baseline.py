"""Baseline: the application store as of the first versioned schema (alerts, timers, intake,
notifications, users, reports, the improvement loop). Stores created before migrations existed
are brought to this revision by ``servq.app_store.migrate.upgrade`` and stamped.

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("fingerprint", sa.String(length=32), nullable=False),
        sa.Column("open_fingerprint", sa.String(length=32), nullable=True),
        sa.Column("rule", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column(
            "labels",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("summary_en", sa.Text(), nullable=False),
        sa.Column("summary_zh", sa.Text(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column(
            "details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("starts_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=200), nullable=True),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.Column("resolved_by", sa.String(length=200), nullable=True),
        sa.Column("escalation_level", sa.Integer(), nullable=False),
        sa.Column("first_notified_at", sa.DateTime(), nullable=True),
        sa.Column("last_notified_at", sa.DateTime(), nullable=True),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("open_fingerprint"),
    )
    op.create_index(op.f("ix_alert_fingerprint"), "alert", ["fingerprint"], unique=False)
    op.create_index(op.f("ix_alert_rule"), "alert", ["rule"], unique=False)
    op.create_index(op.f("ix_alert_starts_at"), "alert", ["starts_at"], unique=False)
    op.create_index(op.f("ix_alert_state"), "alert", ["state"], unique=False)
    op.create_table(
        "auth_login_attempt",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("username", sa.String(length=200), nullable=False),
        sa.Column("client", sa.String(length=200), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("limited", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_auth_login_attempt_client_at", "auth_login_attempt", ["client", "at"], unique=False
    )
    op.create_index(
        "ix_auth_login_attempt_username_at", "auth_login_attempt", ["username", "at"], unique=False
    )
    op.create_table(
        "auth_user",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column(
            "departments",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("agent", sa.String(length=200), nullable=True),
        sa.Column("lang", sa.String(length=8), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
    )
    op.create_table(
        "improve_event",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("entity", sa.String(length=16), nullable=False),
        sa.Column("entity_id", sa.String(length=16), nullable=False),
        sa.Column("problem_id", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("who", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("field", sa.String(length=40), nullable=True),
        sa.Column(
            "old",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "new",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_improve_event_at"), "improve_event", ["at"], unique=False)
    op.create_index(
        "ix_improve_event_entity", "improve_event", ["entity", "entity_id"], unique=False
    )
    op.create_index(
        op.f("ix_improve_event_problem_id"), "improve_event", ["problem_id"], unique=False
    )
    op.create_table(
        "improve_problem",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("source_ref", sa.Text(), nullable=True),
        sa.Column(
            "evidence",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("department", sa.String(length=200), nullable=True),
        sa.Column("owner", sa.String(length=200), nullable=True),
        sa.Column("opened_by", sa.String(length=200), nullable=False),
        sa.Column("opened_at", sa.DateTime(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(), nullable=True),
        sa.Column("claim_due_at", sa.DateTime(), nullable=True),
        sa.Column("escalated_at", sa.DateTime(), nullable=True),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("number", name="uq_improve_problem_number"),
    )
    op.create_index(
        op.f("ix_improve_problem_department"), "improve_problem", ["department"], unique=False
    )
    op.create_index(
        op.f("ix_improve_problem_opened_at"), "improve_problem", ["opened_at"], unique=False
    )
    op.create_index(op.f("ix_improve_problem_stage"), "improve_problem", ["stage"], unique=False)
    op.create_index(op.f("ix_improve_problem_state"), "improve_problem", ["state"], unique=False)
    op.create_table(
        "improve_revisit",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("problem_id", sa.String(length=40), nullable=False),
        sa.Column("case_id", sa.String(length=200), nullable=False),
        sa.Column("customer_ref", sa.String(length=200), nullable=True),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("assigned_to", sa.String(length=200), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("last_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("done_at", sa.DateTime(), nullable=True),
        sa.Column("done_by", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_improve_revisit_done_at"), "improve_revisit", ["done_at"], unique=False
    )
    op.create_index(op.f("ix_improve_revisit_due_at"), "improve_revisit", ["due_at"], unique=False)
    op.create_index(
        op.f("ix_improve_revisit_problem_id"), "improve_revisit", ["problem_id"], unique=False
    )
    op.create_table(
        "improve_sop",
        sa.Column("id", sa.String(length=20), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("plan_id", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("effective_date", sa.Date(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", "version"),
    )
    op.create_index(op.f("ix_improve_sop_plan_id"), "improve_sop", ["plan_id"], unique=False)
    op.create_table(
        "improve_suggestion",
        sa.Column("id", sa.String(length=20), nullable=False),
        sa.Column("author_kind", sa.String(length=16), nullable=False),
        sa.Column("author", sa.String(length=200), nullable=True),
        sa.Column("department", sa.String(length=200), nullable=True),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("problem_id", sa.String(length=40), nullable=True),
        sa.Column("votes", sa.Integer(), nullable=False),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_improve_suggestion_created_at"), "improve_suggestion", ["created_at"], unique=False
    )
    op.create_table(
        "intake_event",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("case_id", sa.String(length=200), nullable=False),
        sa.Column("occurred_at", sa.DateTime(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("event_id"),
    )
    op.create_index(op.f("ix_intake_event_case_id"), "intake_event", ["case_id"], unique=False)
    op.create_table(
        "intake_reject",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("event_id", sa.String(length=200), nullable=True),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "monitor_case",
        sa.Column("case_id", sa.String(length=200), nullable=False),
        sa.Column(
            "state",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("is_open", sa.Boolean(), nullable=False),
        sa.Column("last_event_at", sa.DateTime(), nullable=False),
        sa.Column("changed_seq", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("case_id"),
    )
    op.create_index(
        op.f("ix_monitor_case_changed_seq"), "monitor_case", ["changed_seq"], unique=False
    )
    op.create_index(op.f("ix_monitor_case_is_open"), "monitor_case", ["is_open"], unique=False)
    op.create_index(
        op.f("ix_monitor_case_updated_at"), "monitor_case", ["updated_at"], unique=False
    )
    op.create_table(
        "monitor_cursor",
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "notification_delivery",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("delivery_id", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("alert_id", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("waited_seconds", sa.Float(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("final", sa.Boolean(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("response_excerpt", sa.Text(), nullable=False),
        sa.Column("payload_excerpt", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_notification_delivery_at"), "notification_delivery", ["at"], unique=False
    )
    op.create_index(
        op.f("ix_notification_delivery_delivery_id"),
        "notification_delivery",
        ["delivery_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_notification_delivery_fingerprint"),
        "notification_delivery",
        ["fingerprint"],
        unique=False,
    )
    op.create_table(
        "report_run",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("schedule_id", sa.String(length=200), nullable=False),
        sa.Column("period", sa.String(length=40), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("claimed_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column(
            "recipients",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "files",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("schedule_id", "period", name="uq_report_run_period"),
    )
    op.create_index(op.f("ix_report_run_schedule_id"), "report_run", ["schedule_id"], unique=False)
    op.create_table(
        "silence",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "matchers",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("starts_at", sa.DateTime(), nullable=False),
        sa.Column("ends_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(), nullable=True),
        sa.Column("cancelled_by", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_silence_ends_at"), "silence", ["ends_at"], unique=False)
    op.create_table(
        "sla_timer",
        sa.Column("case_id", sa.String(length=200), nullable=False),
        sa.Column("policy", sa.String(length=100), nullable=False),
        sa.Column("target", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=True),
        sa.Column("warn_at", sa.DateTime(), nullable=True),
        sa.Column("target_seconds", sa.Float(), nullable=False),
        sa.Column("used_seconds", sa.Float(), nullable=False),
        sa.Column("paused_since", sa.DateTime(), nullable=True),
        sa.Column("stopped_at", sa.DateTime(), nullable=True),
        sa.Column("warned", sa.Boolean(), nullable=False),
        sa.Column("breached", sa.Boolean(), nullable=False),
        sa.Column(
            "labels",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("case_id", "policy", "target"),
    )
    op.create_index("ix_sla_timer_stopped_at", "sla_timer", ["stopped_at"], unique=False)
    op.create_table(
        "alert_transition",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("alert_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("from_state", sa.String(length=16), nullable=True),
        sa.Column("to_state", sa.String(length=16), nullable=False),
        sa.Column("who", sa.String(length=200), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alert.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_alert_transition_alert_id"), "alert_transition", ["alert_id"], unique=False
    )
    op.create_table(
        "auth_session",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("client", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["auth_user.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_auth_session_expires_at"), "auth_session", ["expires_at"], unique=False
    )
    op.create_index(op.f("ix_auth_session_user_id"), "auth_session", ["user_id"], unique=False)
    op.create_table(
        "auth_token",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["auth_user.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index(op.f("ix_auth_token_user_id"), "auth_token", ["user_id"], unique=False)
    op.create_table(
        "improve_plan",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("problem_id", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("department", sa.String(length=200), nullable=False),
        sa.Column("opened_by", sa.String(length=200), nullable=False),
        sa.Column("opened_at", sa.DateTime(), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=True),
        sa.Column(
            "milestones",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "acceptance",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "verdict",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("escalated_at", sa.DateTime(), nullable=True),
        sa.Column("escalation_level", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["problem_id"],
            ["improve_problem.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("number", name="uq_improve_plan_number"),
    )
    op.create_index(
        op.f("ix_improve_plan_department"), "improve_plan", ["department"], unique=False
    )
    op.create_index(op.f("ix_improve_plan_due_at"), "improve_plan", ["due_at"], unique=False)
    op.create_index(
        op.f("ix_improve_plan_problem_id"), "improve_plan", ["problem_id"], unique=False
    )
    op.create_index(op.f("ix_improve_plan_status"), "improve_plan", ["status"], unique=False)
    op.create_index(op.f("ix_improve_plan_tier"), "improve_plan", ["tier"], unique=False)
    op.create_table(
        "improve_retro",
        sa.Column("problem_id", sa.String(length=16), nullable=False),
        sa.Column(
            "participants",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "nodes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "conclusions",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column(
            "issues",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["problem_id"],
            ["improve_problem.id"],
        ),
        sa.PrimaryKeyConstraint("problem_id"),
    )
    op.create_table(
        "improve_vote",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("suggestion_id", sa.String(length=20), nullable=False),
        sa.Column("voter", sa.String(length=200), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["suggestion_id"], ["improve_suggestion.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("suggestion_id", "voter", name="uq_improve_vote_voter"),
    )
    op.create_index(
        op.f("ix_improve_vote_suggestion_id"), "improve_vote", ["suggestion_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_improve_vote_suggestion_id"), table_name="improve_vote")
    op.drop_table("improve_vote")
    op.drop_table("improve_retro")
    op.drop_index(op.f("ix_improve_plan_tier"), table_name="improve_plan")
    op.drop_index(op.f("ix_improve_plan_status"), table_name="improve_plan")
    op.drop_index(op.f("ix_improve_plan_problem_id"), table_name="improve_plan")
    op.drop_index(op.f("ix_improve_plan_due_at"), table_name="improve_plan")
    op.drop_index(op.f("ix_improve_plan_department"), table_name="improve_plan")
    op.drop_table("improve_plan")
    op.drop_index(op.f("ix_auth_token_user_id"), table_name="auth_token")
    op.drop_table("auth_token")
    op.drop_index(op.f("ix_auth_session_user_id"), table_name="auth_session")
    op.drop_index(op.f("ix_auth_session_expires_at"), table_name="auth_session")
    op.drop_table("auth_session")
    op.drop_index(op.f("ix_alert_transition_alert_id"), table_name="alert_transition")
    op.drop_table("alert_transition")
    op.drop_index("ix_sla_timer_stopped_at", table_name="sla_timer")
    op.drop_table("sla_timer")
    op.drop_index(op.f("ix_silence_ends_at"), table_name="silence")
    op.drop_table("silence")
    op.drop_index(op.f("ix_report_run_schedule_id"), table_name="report_run")
    op.drop_table("report_run")
    op.drop_index(op.f("ix_notification_delivery_fingerprint"), table_name="notification_delivery")
    op.drop_index(op.f("ix_notification_delivery_delivery_id"), table_name="notification_delivery")
    op.drop_index(op.f("ix_notification_delivery_at"), table_name="notification_delivery")
    op.drop_table("notification_delivery")
    op.drop_table("monitor_cursor")
    op.drop_index(op.f("ix_monitor_case_updated_at"), table_name="monitor_case")
    op.drop_index(op.f("ix_monitor_case_is_open"), table_name="monitor_case")
    op.drop_index(op.f("ix_monitor_case_changed_seq"), table_name="monitor_case")
    op.drop_table("monitor_case")
    op.drop_table("intake_reject")
    op.drop_index(op.f("ix_intake_event_case_id"), table_name="intake_event")
    op.drop_table("intake_event")
    op.drop_index(op.f("ix_improve_suggestion_created_at"), table_name="improve_suggestion")
    op.drop_table("improve_suggestion")
    op.drop_index(op.f("ix_improve_sop_plan_id"), table_name="improve_sop")
    op.drop_table("improve_sop")
    op.drop_index(op.f("ix_improve_revisit_problem_id"), table_name="improve_revisit")
    op.drop_index(op.f("ix_improve_revisit_due_at"), table_name="improve_revisit")
    op.drop_index(op.f("ix_improve_revisit_done_at"), table_name="improve_revisit")
    op.drop_table("improve_revisit")
    op.drop_index(op.f("ix_improve_problem_state"), table_name="improve_problem")
    op.drop_index(op.f("ix_improve_problem_stage"), table_name="improve_problem")
    op.drop_index(op.f("ix_improve_problem_opened_at"), table_name="improve_problem")
    op.drop_index(op.f("ix_improve_problem_department"), table_name="improve_problem")
    op.drop_table("improve_problem")
    op.drop_index(op.f("ix_improve_event_problem_id"), table_name="improve_event")
    op.drop_index("ix_improve_event_entity", table_name="improve_event")
    op.drop_index(op.f("ix_improve_event_at"), table_name="improve_event")
    op.drop_table("improve_event")
    op.drop_table("auth_user")
    op.drop_index("ix_auth_login_attempt_username_at", table_name="auth_login_attempt")
    op.drop_index("ix_auth_login_attempt_client_at", table_name="auth_login_attempt")
    op.drop_table("auth_login_attempt")
    op.drop_index(op.f("ix_alert_state"), table_name="alert")
    op.drop_index(op.f("ix_alert_starts_at"), table_name="alert")
    op.drop_index(op.f("ix_alert_rule"), table_name="alert")
    op.drop_index(op.f("ix_alert_fingerprint"), table_name="alert")
    op.drop_table("alert")
