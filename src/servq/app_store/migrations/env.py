"""Alembic environment of the application store: runs on the connection servq hands over
(``config.attributes["connection"]``), never on a URL of its own."""

from __future__ import annotations

from alembic import context

from servq.app_store import Base, load_models

load_models()
connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata)
with context.begin_transaction():
    context.run_migrations()
