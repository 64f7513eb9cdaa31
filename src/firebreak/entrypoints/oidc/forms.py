"""What the provider's endpoints share: form bodies, redirects with query parameters, caching."""

from urllib.parse import parse_qsl, urlencode, urlsplit

from fastapi import Request

NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}


async def form_of(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (each name's first value)."""
    body = (await request.body()).decode(errors="replace")
    out: dict[str, str] = {}
    for name, value in parse_qsl(body, keep_blank_values=True):
        out.setdefault(name, value)
    return out


def with_query(uri: str, params: dict[str, str | None]) -> str:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return f"{uri}{'&' if urlsplit(uri).query else '?'}{query}"
