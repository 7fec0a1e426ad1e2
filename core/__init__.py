"""What every layer shares: typed configuration, store clients, batching, background-task
helpers, the shard protocol (the playback records both sides of a shard call speak), URL
signing and the trending counters.

Imports go one way: ``deployments`` → ``api``, ``actors``, ``media`` → ``core``. Nothing here
imports those packages (tests/unit/test_layers.py checks it)."""
