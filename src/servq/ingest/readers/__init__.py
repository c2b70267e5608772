"""File readers: CSV, Excel, JSON/JSON Lines, Parquet, XES."""
