"""Tests: GraphQL documents over HTTP against a real Postgres."""
