"""The asyncio client library: knows every DC, fails over, resumes from its cursor."""

from firebreak.client.client import ApiError, Client, Unreachable
from firebreak.client.live import LiveConnection, LiveState
from firebreak.client.unread import UnreadBook

__all__ = ["ApiError", "Client", "LiveConnection", "LiveState", "Unreachable", "UnreadBook"]
