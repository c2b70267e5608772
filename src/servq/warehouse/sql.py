"""DuckDB SQL text shared by the warehouse and the ingest engine: quoting, and the row hash.

``row_hash_sql`` is the one expression for a row's ``row_hash``: ingest stores it with every
row it writes, and the implied case events (``servq.warehouse.events``) compute it on read, so an
implied event and its stored copy hash alike and a re-load finds them to be duplicates.
"""

from __future__ import annotations

from collections.abc import Iterable


def qi(name: str) -> str:
    """Quote an identifier."""
    return '"' + name.replace('"', '""') + '"'


def ql(value: str) -> str:
    """Quote a string literal."""
    return "'" + value.replace("'", "''") + "'"


def row_hash_sql(values: Iterable[str]) -> str:
    """A row's ``row_hash`` from the SQL of its data columns, in the table's column order.

    hash() is DuckDB's 64-bit row hash: a collision would have to hit two versions of the same
    key, and a hash change across DuckDB releases only re-writes identical rows once.
    """
    return "CAST(hash(" + ", ".join(values) + ") >> 1 AS BIGINT)"
