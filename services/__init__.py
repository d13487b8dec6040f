"""Business rules, scoping by actor and transactions, one module per domain."""
