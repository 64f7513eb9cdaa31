"""The service layer: command handlers, the projector loop, live fan-out and auth."""
