"""The explicit limits of a cluster (the ``[limits]`` table of its config file, docs/CONFIG.md);
each is documented in docs/LIMITS.md."""

from __future__ import annotations

from dataclasses import dataclass

#: The longest edit and delete windows the rules allow (domain/projection.py has the same caps;
#: tests/test_message_changes.py keeps them equal).
CHANGE_WINDOW_CAP_S = 7 * 24 * 3600


@dataclass(frozen=True)
class Limits:
    """Explicit limits; each is documented in docs/LIMITS.md."""

    max_body_bytes: int = 64 * 1024
    max_message_chars: int = 4000
    max_room_name_chars: int = 100
    max_display_name_chars: int = 64
    max_group_members: int = 1000
    #: Writes per user, cluster-wide (service/ratelimit.py): a token bucket per kind of write, its
    #: sustained rate and its burst. Sends (a batch takes one token per new message):
    send_rate_per_s: float = 50.0
    send_burst: int = 100
    #: Mark-reads: clients send one as a room is shown, a burst of them when an app opens.
    read_rate_per_s: float = 5.0
    read_burst: int = 30
    #: Room changes: opening a 1:1 room, creating a group, inviting, leaving, renaming.
    room_changes_per_min: float = 10.0
    room_change_burst: int = 20
    #: Display-name changes.
    profile_changes_per_min: float = 10.0
    profile_change_burst: int = 20
    #: Writes of one kind a user may have in flight at one gateway (admitted, not yet applied
    #: there); bounds what other DCs cannot see yet (a lone request, e.g. a batch, always may).
    writes_in_flight: int = 10
    #: The same for sends: as many as one socket may pipeline (ws_commands_in_flight).
    sends_in_flight: int = 100
    #: Live WebSocket connections per user at one gateway; the next one is refused (close 4429).
    max_ws_per_user: int = 20
    #: Messages per batch send (one atomic log append).
    max_batch_messages: int = 100
    token_ttl_s: int = 30 * 24 * 3600
    history_page_max: int = 200
    #: Search (GET /v1/search): characters in a query, hits per page (and the default), how deep
    #: paging may go (hits before a page), and how many of each room's newest messages a query
    #: of only 1-2 character terms looks at (the trigram index cannot answer those).
    search_query_max_chars: int = 200
    search_page_max: int = 50
    search_page_default: int = 20
    search_depth_max: int = 1000
    search_short_scan_per_room: int = 1000
    #: How long after sending its sender may edit a message, and delete it for everyone
    #: (KakaoTalk: a day for both). At most the rules' hard caps (``CHANGE_WINDOW_CAP_S``).
    edit_window_s: int = 24 * 3600
    delete_window_s: int = 24 * 3600
    #: Typing notes per user and gateway (POST /v1/rooms/{id}/typing): a token bucket; each
    #: shows for ``typing_ttl_s`` unless renewed (docs/API.md).
    typing_rate_per_s: float = 2.0
    typing_burst: int = 3
    typing_ttl_s: float = 5.0
    #: Every gateway process pulses this often; a user whose processes have not been heard
    #: from for ``presence_expiry_s`` is offline (a burned DC's users: docs/DECISIONS.md).
    presence_beat_s: float = 2.0
    presence_expiry_s: float = 5.0
    #: Presence changes are pushed to those who share a room of at most this many members with
    #: the user; a larger room's members ask for it (GET /v1/rooms/{id}/presence). Without it a
    #: 1,000-member room coming online sends each member a frame per other member.
    presence_push_max_members: int = 50
    #: Events a WebSocket session may have queued before the server drops it (it resumes by cursor).
    ws_queue_max: int = 10_000
    #: A live WebSocket gets a ``heartbeat`` frame after this long without one, so a client can
    #: tell a DC that stopped answering (its TCP connection still open) from a quiet one.
    ws_heartbeat_s: float = 5.0
    #: A client may ask for a longer interval (``/v1/ws?heartbeat_s=``), in whole seconds, up to
    #: this: one that checks liveness itself (the Python client pings) or saves a phone's battery.
    #: It also bounds how soon the server notices a vanished client: this plus 20 s (liveness.py).
    ws_heartbeat_max_s: int = 300
    #: The operations console's drill: seconds of workload, and when it is stopped if still running.
    console_drill_s: float = 8.0
    console_drill_timeout_s: float = 300.0
    #: Commands over the live WebSocket (wire/commands.py): bytes in one command frame (larger
    #: ones are answered 413; the server closes the connection on frames over twice this), and
    #: commands one connection may have unacknowledged (one more is answered 429).
    max_ws_frame_bytes: int = 64 * 1024
    ws_commands_in_flight: int = 100
    #: argon2id cost per password hash (login, registration). Hashes keep their own parameters.
    password_time_cost: int = 3
    password_memory_kib: int = 64 * 1024
    #: Characters of a client's description (its User-Agent) kept in the session list.
    max_client_chars: int = 200
    #: Sessions ``GET /v1/sessions`` lists at most (the newest).
    sessions_list_max: int = 100
    #: Hashes that may wait for one of a gateway's two hashing slots; one more is refused (503 busy).
    password_queue_max: int = 16
    #: Failed logins per account and per source address in a window, counted cluster-wide
    #: (429 too_many_attempts); registrations per source address in their window.
    login_window_s: int = 15 * 60
    login_failures_per_account: int = 10
    login_failures_per_address: int = 100
    register_window_s: int = 3600
    registrations_per_address: int = 20
    #: OpenID Connect provider (docs/LOGIN.md): an authorization code's life; access and ID
    #: tokens' lives; a refresh-token family's life from its code; how long a new signing key is
    #: published in JWKS before it signs; redirect URIs per client; sites a user's list shows.
    oidc_code_ttl_s: int = 60
    oidc_access_token_ttl_s: int = 600
    oidc_id_token_ttl_s: int = 600
    oidc_refresh_ttl_s: int = 30 * 24 * 3600
    oidc_key_publish_s: int = 60
    oidc_redirect_uris_max: int = 10
    oidc_sites_list_max: int = 100
    #: Largest transfer, and largest faucet credit, in minor units (the ledger's own hard cap,
    #: domain/ledger.MAX_AMOUNT, is higher).
    max_transfer_amount: int = 1_000_000_000
    max_credit_amount: int = 1_000_000_000_000
    #: Seconds a wallet read with ``at_least`` waits for this DC to reach that position (then 503).
    wallet_read_wait_s: float = 5.0
    #: Attachments (docs/FILES.md): largest file; bytes per upload chunk (every chunk but the last
    #: has exactly this many; at most adapters/object_files.MAX_UPLOAD_CHUNK_BYTES, as a NATS
    #: message must hold one); how long an unfinished upload's chunks are kept; uploads a user may
    #: have started and not completed within that time; files a gateway reads at once (each is
    #: held in memory whole while it is checked and served).
    max_file_bytes: int = 25 * 1024 * 1024
    upload_chunk_bytes: int = 512 * 1024
    upload_ttl_s: int = 24 * 3600
    uploads_in_flight: int = 10
    file_reads_in_flight: int = 8
    #: Files one message may show.
    max_attachments: int = 10
