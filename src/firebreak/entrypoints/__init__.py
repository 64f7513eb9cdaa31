"""Entrypoints: the gateway process, the CLI (up, chat, gateway) and the local cluster supervisor."""
