"""The pure domain: events, identifiers, rules and projections. No I/O happens here."""
