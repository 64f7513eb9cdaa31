"""Benchmarks: Firebreak end to end against the raw JetStream limit, measured in one run."""
