"""Servers of the side-by-side benchmark's peers (how the harness drives them: bench.lineup)."""
