"""The oracle: what the harness created (ledger), what Nova shows
(snapshot, logs, trace) and the invariants that compare the two."""
