"""Akashic: campaigns, staff and versioned messages (the types and inputs of `resolvers.akashic`)."""
