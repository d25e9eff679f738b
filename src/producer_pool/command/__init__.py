"""The `producer-pool` command: `demo` and `check` (extra `cli`)."""
