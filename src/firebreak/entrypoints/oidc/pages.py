"""The provider's pages a person sees: sign in, consent, errors, signed out. Plain HTML, every
value escaped; no script, so nothing on these pages can read the session cookie."""

from __future__ import annotations

from html import escape

from firebreak.domain.oidc import SCOPE_WORDS

_STYLE = """
body { font-family: system-ui, sans-serif; background: #f4f1ea; margin: 0; }
main { max-width: 24rem; margin: 4rem auto; background: #fff; padding: 2rem; border-radius: 12px;
       box-shadow: 0 2px 10px rgba(0,0,0,.08); }
h1 { font-size: 1.3rem; margin-top: 0; }
label { display: block; margin: .8rem 0 .2rem; }
input[type=text], input[type=password] { width: 100%; box-sizing: border-box; padding: .5rem; }
button { margin-top: 1rem; padding: .6rem 1.2rem; border: 0; border-radius: 6px; cursor: pointer; }
.allow { background: #fee500; } .deny { background: #ddd; }
.error { color: #b00020; } ul { padding-left: 1.2rem; }
"""


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )


def _hidden(fields: dict[str, str]) -> str:
    return "".join(
        f"<input type='hidden' name='{escape(k)}' value='{escape(v, quote=True)}'>" for k, v in fields.items()
    )


def sign_in(site: str, request: str, check: str, error: str | None = None, username: str = "") -> str:
    problem = f"<p class='error' role='alert'>{escape(error)}</p>" if error else ""
    return _page(
        "Sign in with Firebreak",
        f"<h1>Sign in with Firebreak</h1><p><strong>{escape(site)}</strong> wants you to sign in.</p>"
        f"{problem}<form method='post' action='/oauth/authorize/login'>"
        f"{_hidden({'request': request, 'check': check})}"
        "<label for='username'>Username</label>"
        f"<input type='text' id='username' name='username' value='{escape(username, quote=True)}' "
        "autocomplete='username' required>"
        "<label for='password'>Password</label>"
        "<input type='password' id='password' name='password' autocomplete='current-password' required>"
        "<button class='allow' type='submit'>Sign in</button></form>",
    )


def consent(site: str, username: str, scopes: list[str], request: str, check: str) -> str:
    shown = "".join(f"<li>{escape(SCOPE_WORDS.get(s, s))}</li>" for s in scopes)
    return _page(
        f"Allow {site}?",
        f"<h1>Allow {escape(site)} to sign you in?</h1>"
        f"<p>Signed in as <strong>{escape(username)}</strong>.</p>"
        f"<p>{escape(site)} will see:</p><ul>{shown}</ul>"
        "<p>It will not see your messages, rooms or password. You can withdraw this at any time.</p>"
        "<form method='post' action='/oauth/authorize/consent'>"
        f"{_hidden({'request': request, 'check': check})}"
        "<button class='allow' type='submit' name='decision' value='allow'>Allow</button> "
        "<button class='deny' type='submit' name='decision' value='deny'>Deny</button></form>",
    )


def error(message: str) -> str:
    return _page(
        "Sign-in error",
        f"<h1>This sign-in link is not valid</h1><p class='error'>{escape(message)}</p>"
        "<p>Go back to the site and try again.</p>",
    )


def signed_out() -> str:
    return _page("Signed out", "<h1>You are signed out of Firebreak</h1>")
