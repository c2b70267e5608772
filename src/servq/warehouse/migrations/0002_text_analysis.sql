-- Text analysis at ingest: sentiment, attitude, aspects, risk categories and urgency on
-- feedback and interaction rows. DuckDB appends ALTER TABLE columns after the lineage
-- columns, so each table is rebuilt with the new columns in their place.

CREATE TABLE "feedback_v2" (
    "source_system" VARCHAR,
    "feedback_id" VARCHAR,
    "case_id" VARCHAR,
    "interaction_id" VARCHAR,
    "survey" VARCHAR,
    "channel" VARCHAR,
    "site" VARCHAR,
    "team" VARCHAR,
    "agent" VARCHAR,
    "customer_id" VARCHAR,
    "submitted_at" TIMESTAMP,
    "score" DOUBLE,
    "scale_min" DOUBLE,
    "scale_max" DOUBLE,
    "text" VARCHAR,
    "language" VARCHAR,
    "sentiment_label" VARCHAR,
    "sentiment_score" DOUBLE,
    "attitude_score" DOUBLE,
    "aspects" VARCHAR,
    "risk_categories" VARCHAR,
    "urgency" VARCHAR,
    "attributes" VARCHAR,
    "source" VARCHAR,
    "batch_id" VARCHAR,
    "ingested_at" TIMESTAMP,
    "row_hash" BIGINT,
    "flags" VARCHAR
);

INSERT INTO "feedback_v2" SELECT "source_system", "feedback_id", "case_id", "interaction_id", "survey", "channel", "site", "team", "agent", "customer_id", "submitted_at", "score", "scale_min", "scale_max", "text", "language", CAST(NULL AS VARCHAR), CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE), CAST(NULL AS VARCHAR), CAST(NULL AS VARCHAR), CAST(NULL AS VARCHAR), "attributes", "source", "batch_id", "ingested_at", "row_hash", "flags" FROM "feedback";

DROP TABLE "feedback";

ALTER TABLE "feedback_v2" RENAME TO "feedback";

CREATE TABLE "interaction_v2" (
    "source_system" VARCHAR,
    "interaction_id" VARCHAR,
    "case_id" VARCHAR,
    "channel" VARCHAR,
    "direction" VARCHAR,
    "queue" VARCHAR,
    "priority" VARCHAR,
    "call_type" VARCHAR,
    "customer_id" VARCHAR,
    "agent" VARCHAR,
    "team" VARCHAR,
    "site" VARCHAR,
    "arrived_at" TIMESTAMP,
    "queued_at" TIMESTAMP,
    "answered_at" TIMESTAMP,
    "ended_at" TIMESTAMP,
    "ivr_seconds" DOUBLE,
    "queue_seconds" DOUBLE,
    "talk_seconds" DOUBLE,
    "hold_seconds" DOUBLE,
    "wrap_seconds" DOUBLE,
    "outcome" VARCHAR,
    "transcript" VARCHAR,
    "sentiment_label" VARCHAR,
    "sentiment_score" DOUBLE,
    "attitude_score" DOUBLE,
    "aspects" VARCHAR,
    "risk_categories" VARCHAR,
    "urgency" VARCHAR,
    "attributes" VARCHAR,
    "source" VARCHAR,
    "batch_id" VARCHAR,
    "ingested_at" TIMESTAMP,
    "row_hash" BIGINT,
    "flags" VARCHAR
);

INSERT INTO "interaction_v2" SELECT "source_system", "interaction_id", "case_id", "channel", "direction", "queue", "priority", "call_type", "customer_id", "agent", "team", "site", "arrived_at", "queued_at", "answered_at", "ended_at", "ivr_seconds", "queue_seconds", "talk_seconds", "hold_seconds", "wrap_seconds", "outcome", "transcript", CAST(NULL AS VARCHAR), CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE), CAST(NULL AS VARCHAR), CAST(NULL AS VARCHAR), CAST(NULL AS VARCHAR), "attributes", "source", "batch_id", "ingested_at", "row_hash", "flags" FROM "interaction";

DROP TABLE "interaction";

ALTER TABLE "interaction_v2" RENAME TO "interaction";
