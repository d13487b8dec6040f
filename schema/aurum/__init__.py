"""Aurum Life's part of the graph."""
