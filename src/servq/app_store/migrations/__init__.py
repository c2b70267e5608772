"""Alembic migrations of the application store (see servq.app_store.migrate)."""
