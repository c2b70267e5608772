"""Speed sanity, not a timing assertion: ten million business durations in one vectorised call."""

from __future__ import annotations

import numpy as np

from servq.calendar import BusinessClock

N = 10_000_000


def test_ten_million_durations_compute() -> None:
    clock = BusinessClock("cn-office", "2023-01-01", "2025-12-31")
    rng = np.random.default_rng(11)
    lo = np.datetime64("2023-01-01", "ns").astype(np.int64)
    hi = np.datetime64("2025-12-01", "ns").astype(np.int64)
    opened = rng.integers(lo, hi, N).view("datetime64[ns]")
    closed = opened + rng.integers(0, 20 * 86400 * 10**9, N).astype("timedelta64[ns]")
    opened[::1000] = np.datetime64("NaT")

    durations = clock.duration(opened, closed)

    assert durations.shape == (N,)
    assert np.isnan(durations[::1000]).all()
    assert np.isnan(durations).sum() == N // 1000
    sample = slice(1, N, 99_991)  # spot-check against scalar calls
    expected = [clock.duration(a, b) for a, b in zip(opened[sample], closed[sample], strict=True)]
    np.testing.assert_array_equal(durations[sample], expected)
