"""The wire schema: what the API answers (``views``), the WebSocket frames (``frames``) and the
request bodies (``requests``), shared by the gateway and the client library."""
