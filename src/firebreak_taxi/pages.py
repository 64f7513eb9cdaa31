"""The taxi site's HTML: a front page for signed-out people, the ride-call page, and an error page.
Everything shown from outside (names, places, messages) is escaped."""

from __future__ import annotations

import time
from html import escape

from firebreak_taxi.accounts import SignedIn
from firebreak_taxi.store import Ride

STYLE = """
body{font-family:system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;color:#1d1d1f}
header{display:flex;justify-content:space-between;align-items:center}
h1{font-size:1.5rem} .btn{background:#ffcd00;color:#1d1d1f;border:0;border-radius:.4rem;
padding:.6rem 1rem;font-size:1rem;text-decoration:none;display:inline-block;cursor:pointer}
label{display:block;margin:.5rem 0} input{font-size:1rem;padding:.4rem;width:100%;box-sizing:border-box}
.muted{color:#555;font-size:.9rem} .notice{background:#fff4d6;padding:.5rem} .error{color:#a00000}
ul{padding-left:1.2rem}
"""


def _page(title: str, body: str) -> str:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )


def signed_out() -> str:
    return _page(
        "Firebreak Taxi",
        "<header><h1>Firebreak Taxi</h1></header>"
        "<p>Call a taxi in two taps. Sign in with your Firebreak account: no new password.</p>"
        '<p><a id="signin" class="btn" href="/login">Sign in with Firebreak</a></p>',
    )


def _clock(when: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(when))


def _ride(ride: Ride) -> str:
    return (
        f'<li data-ride="{ride.id}">{escape(ride.pickup)} → {escape(ride.destination)}'
        f' <span class="muted">at {_clock(ride.requested_at)}</span></li>'
    )


def home(user: SignedIn, rides: list[Ride]) -> str:
    notice = f'<p class="notice" role="status" id="notice">{escape(user.notice)}</p>' if user.notice else ""
    listing = "".join(_ride(r) for r in rides) or '<li class="muted">No rides yet.</li>'
    return _page(
        "Firebreak Taxi",
        "<header><h1>Firebreak Taxi</h1>"
        '<form method="post" action="/logout"><button id="signout" class="btn">Sign out</button></form>'
        "</header>"
        f'<p id="who">Signed in as <strong id="user-name">{escape(user.name)}</strong>'
        f' (user id <code id="user-id">{escape(user.sub)}</code>)</p>'
        f'<p id="session" class="muted" data-dc="{escape(user.dc)}" data-refreshes="{user.refreshes}"'
        f' data-kid="{escape(user.key_id)}">'
        f"Signed in through {escape(user.dc)}; access token valid until {_clock(user.expires_at)};"
        f" refreshed {user.refreshes} time{'' if user.refreshes == 1 else 's'}.</p>{notice}"
        '<h2>Call a taxi</h2><form id="call-form" method="post" action="/rides">'
        '<label>From <input name="pickup" required maxlength="200" autocomplete="off"></label>'
        '<label>To <input name="destination" required maxlength="200" autocomplete="off"></label>'
        '<button class="btn">Call a taxi</button></form>'
        f'<h2>Your rides</h2><ul id="rides">{listing}</ul>',
    )


def error(message: str) -> str:
    return _page(
        "Firebreak Taxi: sign-in failed",
        f'<h1>Firebreak Taxi</h1><p id="error" class="error" role="alert">{escape(message)}</p>'
        '<p><a class="btn" href="/">Back</a></p>',
    )
