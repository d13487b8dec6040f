"""aurum."""
