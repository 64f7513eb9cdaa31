"""The provider's pure rules (domain/oidc.py): PKCE, redirect URIs, scopes, refresh-token format,
and which keys sign and which JWKS publishes through a rotation."""

from __future__ import annotations

from firebreak.domain import oidc

#: RFC 7636 appendix B.
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_pkce_s256() -> None:
    assert oidc.pkce_ok(VERIFIER, CHALLENGE)
    assert not oidc.pkce_ok(VERIFIER[:-1] + "l", CHALLENGE)
    assert not oidc.pkce_ok(None, CHALLENGE) and not oidc.pkce_ok("", CHALLENGE)
    assert not oidc.pkce_ok("short", CHALLENGE)
    assert oidc.challenge_ok(CHALLENGE, "S256")
    assert not oidc.challenge_ok(CHALLENGE, "plain") and not oidc.challenge_ok(None, "S256")


def test_redirect_uris() -> None:
    assert oidc.check_redirect_uri("https://taxi.example/cb")
    assert oidc.check_redirect_uri("http://127.0.0.1:8080/cb")
    assert not oidc.check_redirect_uri("http://taxi.example/cb")  # plain http off loopback
    assert not oidc.check_redirect_uri("https://taxi.example/cb#frag")
    assert not oidc.check_redirect_uri("javascript:alert(1)")
    assert not oidc.check_redirect_uri("/relative")


def test_scopes_and_refresh_tokens() -> None:
    assert oidc.parse_scope("profile openid email") == ["openid", "profile"]
    assert oidc.parse_scope("profile") is None
    token = oidc.new_refresh_token("abc123")
    assert oidc.family_of(token) == "abc123"
    assert oidc.family_of("frt1.a.b.c") is None and oidc.family_of("junk") is None


def _key(kid: str, created: int, signs_from: int, retired: int = 0) -> oidc.SigningKey:
    return oidc.SigningKey(kid, "RS256", {}, created, signs_from, retired)


def test_a_rotated_key_is_published_before_it_signs_and_the_old_one_stays_until_its_tokens_expire() -> None:
    ring = oidc.KeyRing(keys=[_key("old", 0, 0)])
    new = _key("new", 1000, 1060)
    ring = oidc.rotated(ring, "RS256", new, max_token_s=600)
    # Published at once; the old key signs until the new one's time comes.
    assert {k.kid for k in oidc.published(ring, 1000, 600)} == {"old", "new"}
    assert oidc.signing_key(ring, "RS256", 1059).kid == "old"  # type: ignore[union-attr]
    assert oidc.signing_key(ring, "RS256", 1060).kid == "new"  # type: ignore[union-attr]
    # The old key is published while tokens it signed may be valid, then dropped.
    assert "old" in {k.kid for k in oidc.published(ring, 1060 + 599, 600)}
    assert "old" not in {k.kid for k in oidc.published(ring, 1060 + 600, 600)}
    # A later rotation forgets keys whose tokens have all expired.
    ring = oidc.rotated(ring, "RS256", _key("third", 5000, 5060), max_token_s=600)
    assert [k.kid for k in ring.keys] == ["new", "third"]
