"""Firebreak: a messenger whose every change lives in a log replicated across three data centers."""
