"""Fixtures of the monitor tests: ``pg_url`` (a fresh PostgreSQL database per test) lives in
tests/conftest.py."""
