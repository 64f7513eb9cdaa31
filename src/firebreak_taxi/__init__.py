"""Firebreak Taxi: a ride-call website of another company that signs its users in with Firebreak.

It is a separate site with its own process and its own SQLite database, and talks to Firebreak only
through standard OpenID Connect (authlib's OAuth 2.0 client, joserfc for the ID token): it imports
nothing from ``firebreak``. It knows every DC's address; the issuer is the same at each, so when the
DC it was talking to burns it carries on (discovery, code exchange, refresh, userinfo) at another.
See docs/LOGIN.md, "The demo site".
"""
