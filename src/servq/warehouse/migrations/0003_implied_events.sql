-- Implied case events (see servq/warehouse/events.py): the events a case row implies through
-- its profile's event rules are computed by the case_event view instead of being stored.
-- Stored events move to case_event_stored; case.event_rules names the rule set of a case row
-- whose events are implied (NULL: its events, if any, are stored). DuckDB appends the new
-- column after the lineage columns; readers name the columns they read.

ALTER TABLE "case_event" RENAME TO "case_event_stored";

ALTER TABLE "case" ADD COLUMN "event_rules" VARCHAR;

CREATE TABLE "_servq_event_rules" (
    "rules_id" VARCHAR PRIMARY KEY,
    "rules" VARCHAR NOT NULL,
    "created_at" TIMESTAMP
);

-- no rule set is registered yet; events.create_views() re-creates both views as rule sets
-- are registered
CREATE VIEW "_servq_implied_event" AS SELECT * FROM "case_event_stored" WHERE false;

CREATE VIEW "case_event" AS
SELECT * FROM "case_event_stored" UNION ALL SELECT * FROM "_servq_implied_event";
