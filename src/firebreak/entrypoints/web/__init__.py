"""The chat web app: static files served by every gateway, and CORS for the other DCs' pages."""
