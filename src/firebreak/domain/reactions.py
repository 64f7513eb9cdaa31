"""The reactions a message can get: KakaoTalk's six, each one emoji (with its variation selector
where the emoji needs one to draw as an emoji). A fixed set, part of the rules: every DC and every
client agrees on what counts, and the index of each is a short stable key."""

from __future__ import annotations

from firebreak.errors import BadRequest

#: Heart, thumbs up, check, laughing, surprised, crying.
REACTIONS = ("\u2764\ufe0f", "\U0001f44d", "\u2714\ufe0f", "\U0001f606", "\U0001f62e", "\U0001f622")


def check_reaction(emoji: str) -> int:
    """The reaction's index in :data:`REACTIONS`, or 400 ``invalid_reaction``."""
    try:
        return REACTIONS.index(emoji)
    except ValueError:
        raise BadRequest(f"a reaction is one of {' '.join(REACTIONS)}", code="invalid_reaction") from None
