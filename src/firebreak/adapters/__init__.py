"""Adapters to the outside world: the JetStream log and the SQLite read models."""
