"""The terminal chat (``firebreak chat``), a line-based client on top of ``firebreak.client``.

Modules: ``signin`` (sign in or register, before the chat starts), ``session`` (the running
chat: its tasks, leaving), ``commands`` (what a typed line does), ``incoming`` (showing live
events), ``outbox`` (messages until the log has them), ``rooms`` (stable numbers and names),
``status`` (the connection as the person sees it), ``screen`` (formatting) and ``terminal``
(reading typed lines).
"""

from firebreak.entrypoints.chat.session import run_chat

__all__ = ["run_chat"]
