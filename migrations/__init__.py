"""Alembic's migrations (versions/) and the helpers they share (rls.py)."""
