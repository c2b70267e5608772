"""The canonical warehouse: schema, migrations, the embedded DuckDB store."""
