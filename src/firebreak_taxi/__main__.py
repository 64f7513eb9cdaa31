"""``python -m firebreak_taxi``: runs the taxi site (``firebreak up --with-taxi`` starts it too).

The client secret is read from ``TAXI_CLIENT_SECRET`` (not an argument: others can read a
process's arguments); without it the site is a public client and relies on PKCE alone."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

import uvicorn

from firebreak_taxi.settings import TaxiSettings
from firebreak_taxi.web import build_app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m firebreak_taxi", description=__doc__)
    parser.add_argument("--issuer", required=True, help="the provider's issuer URL")
    parser.add_argument(
        "--provider", action="append", required=True, help="a DC's address (repeat for each DC)"
    )
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--public-url", required=True, help="this site's address, e.g. http://127.0.0.1:8010")
    parser.add_argument("--database", required=True, help="the site's SQLite file")
    parser.add_argument("--refresh-margin", type=float, default=10.0, help="seconds before expiry to refresh")
    args = parser.parse_args(argv)
    settings = TaxiSettings(
        issuer=args.issuer,
        provider_urls=tuple(args.provider),
        client_id=args.client_id,
        client_secret=os.environ.get("TAXI_CLIENT_SECRET") or None,
        public_url=args.public_url.rstrip("/"),
        database=Path(args.database),
        refresh_margin_s=args.refresh_margin,
    )
    address = urlsplit(settings.public_url)
    uvicorn.run(
        build_app(settings),
        host=address.hostname or "127.0.0.1",
        port=address.port or 80,
        log_level="warning",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
