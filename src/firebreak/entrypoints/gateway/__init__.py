"""The gateway: one per DC, HTTP + WebSocket, serving from that DC's read model."""
