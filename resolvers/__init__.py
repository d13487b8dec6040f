"""Thin resolvers: read arguments and context, call one service, map the result."""
