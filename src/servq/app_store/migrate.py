"""Schema versions of the application store.

Until the first release the schema is created from the table declarations; the versioned
Alembic migrations replace this before the schema is frozen.
"""

from __future__ import annotations

from sqlalchemy import Engine


def upgrade(engine: Engine) -> None:
    """Bring the store's schema up to date (idempotent)."""
    from servq.app_store import Base

    Base.metadata.create_all(engine)
