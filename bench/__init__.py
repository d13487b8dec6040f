"""Benchmarks (not run by the test suite); see BENCHMARKS.md."""
