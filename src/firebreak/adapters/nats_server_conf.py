"""One DC's nats-server configuration: who may connect, what each user may do, and TLS.

Three NATS users (docs/SECURITY.md has the threat model):

- the **gateway** user (``nats_user``) writes events and reads the token signing key: a gateway
  needs both. It may not delete or purge the log's streams or their messages. It also publishes
  and hears the typing and presence notes on core subjects (``eph.>``, adapters/ephemeral.py).
- the **ops** user (``ops_nats_user``) may ask for stream state and move stream leaders, nothing
  else: it cannot read an event, a KV entry (the signing key), a typing or presence note, or
  write anything.
- the **route** user, for the links between nodes only.

Nobody may delete, purge or erase messages of the log's streams: those subjects are denied to every
client user, so a stolen credential cannot erase history.
"""

from __future__ import annotations

from firebreak.adapters.leadership import stream_names
from firebreak.config import Config, DCConfig

#: What an ops credential may ask: stream state and leader moves (request/reply over _INBOX).
OPS_PUBLISH = (
    "$JS.API.INFO",
    "$JS.API.STREAM.INFO.*",
    "$JS.API.STREAM.NAMES",
    "$JS.API.STREAM.LEADER.STEPDOWN.*",
)
#: JetStream API calls that erase what the log holds, per stream.
ERASING = ("$JS.API.STREAM.DELETE", "$JS.API.STREAM.PURGE", "$JS.API.STREAM.MSG.DELETE")
#: Seconds a TLS handshake may take (nats-server's default, 2 s, is tight on a busy machine).
TLS_TIMEOUT_S = 5


def _quoted(subjects: list[str] | tuple[str, ...]) -> str:
    return "[" + ", ".join(f'"{s}"' for s in subjects) + "]"


def erasing_subjects(config: Config) -> list[str]:
    return [f"{api}.{stream}" for stream in stream_names(config) for api in ERASING]


def _tls_block(config: Config, dc: DCConfig, *, routes: bool) -> str:
    if config.tls is None:
        return ""
    cert, key = config.tls.for_dc(dc.name)
    verify = "\n    verify: true" if routes else ""
    indent = "  " if routes else ""
    return (
        f"{indent}tls {{\n"
        f'{indent}  cert_file: "{cert}"\n{indent}  key_file: "{key}"\n'
        f'{indent}  ca_file: "{config.tls.ca_file}"\n{indent}  timeout: {TLS_TIMEOUT_S}{verify}\n'
        f"{indent}}}\n"
    )


#: How often a route is pinged: the round trip /routez shows is that fresh, and the leader balancer
#: keeps leaders off a DC far from its peers by it (adapters/route_rtt.py). nats-server's default
#: (2 minutes) would judge by a round trip measured when the route connected. As many pings may go
#: unanswered before the route is dropped as by default (2 minutes' worth).
ROUTE_PINGS = '  ping_interval: "2s"\n  ping_max: 60\n'


def nats_conf(config: Config, dc: DCConfig, *, proxied: tuple[dict[str, str], str] | None = None) -> str:
    """One DC's nats-server config. Its monitoring port (``http``) listens on 127.0.0.1 only,
    whatever the DC's address: it answers without credentials (server, route and stream details)
    and is for operators on that machine (docs/SECURITY.md).

    ``proxied`` (local clusters with link faults, localcluster/links.py): the ``host:port`` of each
    other DC's route as this DC must dial it, and the address to advertise instead of its own."""
    s = config.secrets
    via = proxied[0] if proxied is not None else {}
    routes = ", ".join(
        f'"nats-route://{s.route_user}:{s.route_password}@{via.get(d.name, f"{d.host}:{d.cluster_port}")}"'
        for d in config.dcs
        if d != dc
    )
    extra = ROUTE_PINGS + (f'  advertise: "{proxied[1]}"\n' if proxied is not None else "")
    store = (config.data_dir / dc.name / "nats").resolve()
    deny = _quoted(erasing_subjects(config))
    ops = f'publish: {{ allow: {_quoted(OPS_PUBLISH)} }}, subscribe: {{ allow: ["_INBOX.>"] }}'
    return f"""# written by firebreak: {dc.name}
server_name: "{dc.name}"
listen: "{dc.bind or dc.host}:{dc.nats_port}"
http: "127.0.0.1:{dc.monitor_port}"
max_payload: 1048576
jetstream {{
  store_dir: "{store}"
  # Acknowledged means on disk in a quorum of DCs (the default flushes every 2 minutes).
  sync_interval: always
}}
{_tls_block(config, dc, routes=False)}authorization {{
  users: [
    {{ user: "{s.nats_user}", password: "{s.nats_password}",
       permissions: {{ publish: {{ deny: {deny} }} }} }}
    {{ user: "{s.ops_nats_user}", password: "{s.ops_nats_password}",
       permissions: {{ {ops} }} }}
  ]
}}
cluster {{
  name: "{config.cluster_name}"
  listen: "{dc.bind or dc.host}:{dc.cluster_port}"
  authorization {{ user: "{s.route_user}", password: "{s.route_password}" }}
  routes: [ {routes} ]
{extra}{_tls_block(config, dc, routes=True)}}}
"""
