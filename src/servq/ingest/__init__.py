"""Data intake: readers, mapping profiles, validation, quarantine and the idempotent merge."""
