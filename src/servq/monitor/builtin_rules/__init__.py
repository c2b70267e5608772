"""Example alert-rule files shipped with servq (``servq rules validate standard``)."""
