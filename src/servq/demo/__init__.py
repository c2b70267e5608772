"""The demo: a realistic, seeded service-centre data set with documented planted problems.

Owns: generating demo export files (``generator``), the list of problems planted in them
(``planted``), and loading them into a workspace (``run``). Later analyses are tested against
the planted problems: they must find them.
"""
