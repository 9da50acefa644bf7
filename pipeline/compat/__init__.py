"""Quarantine for workarounds of libraries' internals: one module per workaround, each naming its upstream
issue, each with a canary test in tests/compat/ that fails when the internal disappears or upstream fixes it."""
