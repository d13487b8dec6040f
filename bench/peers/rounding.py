"""The progress percent as Quintet computes it, for the Python peers (naive, floor).

100 * done / total rounded half to even at one decimal, exactly, in integers (Quintet's
services/aurum/progress.py does the same; Python's `round(100.0 * done / total, 1)` rounds the
nearest binary value instead and differs at some halves). bench.checks compares every percent
exactly, with an independent computation.
"""

from __future__ import annotations


def percent(done: int, total: int) -> float:
    if total == 0:
        return 0.0
    tenths, remainder = divmod(1000 * done, total)
    if remainder * 2 > total or (remainder * 2 == total and tenths % 2 == 1):
        tenths += 1
    return tenths / 10
