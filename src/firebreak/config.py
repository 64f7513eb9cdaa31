"""Cluster layout, secrets and limits (limits.py), read from one TOML file with sane defaults.

The same format describes the local three-DC cluster on 127.0.0.1 and a real deployment across
sites (see docs/CONFIG.md). Every DC of a cluster must read the same file: the partition count and
the secrets are part of the log's contract.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from firebreak.errors import ConfigError
from firebreak.limits import Limits


@dataclass(frozen=True)
class DCConfig:
    """One data center: one nats-server node and its gateway (one or more processes)."""

    name: str
    host: str = "127.0.0.1"
    nats_port: int = 4222
    cluster_port: int = 6222
    monitor_port: int = 8222
    http_port: int = 8001
    #: Address the gateway binds; defaults to ``host``.
    bind: str | None = None
    #: Gateway processes serving ``http_port`` together (SO_REUSEPORT: the kernel deals each new
    #: connection to one), each with a read model of its own. One process holds as many sockets
    #: as its open-files limit allows and uses one core (docs/DECISIONS.md, "Several gateway
    #: processes per DC").
    gateways: int = 1
    #: Where ``gateways`` > 1: each process's own port besides ``http_port`` (one per process, in
    #: order). ``http_port`` reaches whichever process the kernel picks, so scraping one process's
    #: metrics, asking its health or comparing its read model needs an address of its own. Empty:
    #: none (the processes are then reached only through ``http_port``).
    process_ports: tuple[int, ...] = ()

    def process_url(self, process: int) -> str | None:
        """Gateway process ``process``'s own address (1-based): the DC's where it has one process;
        None where it has several without ``process_ports``."""
        if self.gateways == 1:
            return self.http_url
        if not self.process_ports:
            return None
        return f"http://{self.host}:{self.process_ports[process - 1]}"

    def process_urls(self) -> list[tuple[int, str]]:
        """Where to reach each gateway process alone, by number: each at its own port where the
        DC has several with ``process_ports``; else only the DC's URL, as process 1 (where it has
        several without ports, that reaches whichever process the kernel picks)."""
        own = [(k, self.process_url(k)) for k in range(1, self.gateways + 1)]
        return [(k, url) for k, url in own if url is not None] or [(1, self.http_url)]

    def label(self, process: int) -> str:
        """The name of the DC's gateway process ``process`` (1-based) where one DC-wide name
        would mix processes up (presence sources, NATS connection names, log files)."""
        return self.name if process == 1 else f"{self.name}#{process}"

    @property
    def nats_url(self) -> str:
        return f"nats://{self.host}:{self.nats_port}"

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.http_port}/v1/ws"


@dataclass(frozen=True)
class Secrets:
    """The cluster's shared secrets. The passwords and the ops token have no built-in value: a
    loopback-only cluster gets generated ones (localcluster/secrets.py), any other must set
    them (docs/SECURITY.md)."""

    #: The gateways' NATS user: writes events, reads the token signing key (docs/SECURITY.md).
    nats_user: str = "firebreak"
    nats_password: str = ""
    #: The operators' NATS user (status, leader moves): reads stream state, no data, no writes.
    ops_nats_user: str = "ops"
    ops_nats_password: str = ""
    route_user: str = "route"
    route_password: str = ""
    #: Guards the internal endpoints (digest, drain, evacuate, DC actions); never given to end users.
    ops_token: str = ""


#: The secrets a cluster cannot run without (the user names are not secret).
SECRET_FIELDS = ("nats_password", "ops_nats_password", "route_password", "ops_token")
#: Values once built in and published with the source: as good as no secret at all.
PUBLISHED_SECRETS = frozenset(
    {"firebreak-dev-password", "firebreak-dev-route-password", "firebreak-dev-ops-token"}
)
#: Shortest secret accepted off loopback (a generated one has 43 characters).
MIN_SECRET_CHARS = 16
#: Secrets and user names go verbatim into nats.conf and into route URLs
#: (``nats-route://user:password@host``): only URL-unreserved characters, so none can end a
#: quoted string or a URL part there.
SECRET_CHARS = re.compile(r"[A-Za-z0-9._~-]*")


def default_dcs() -> tuple[DCConfig, ...]:
    return tuple(
        DCConfig(
            name=f"dc{i}",
            nats_port=4221 + i,
            cluster_port=6221 + i,
            monitor_port=8221 + i,
            http_port=8000 + i,
        )
        for i in (1, 2, 3)
    )


@dataclass(frozen=True)
class Tls:
    """TLS for the log's connections (``[tls]``; docs/SECURITY.md): clients (gateways, tools) check
    each node's certificate against ``ca_file``; routes between nodes use mutual TLS. ``{dc}`` in
    a path is replaced by the DC's name, so one file serves every site."""

    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""

    def for_dc(self, dc: str) -> tuple[Path, Path]:
        return Path(self.cert_file.replace("{dc}", dc)), Path(self.key_file.replace("{dc}", dc))


#: Seconds a serving read model keeps its transaction open before it commits (docs/READ_MODELS.md).
READ_MODEL_COMMIT_S = 0.5


@dataclass(frozen=True)
class Config:
    cluster_name: str = "firebreak"
    data_dir: Path = Path(".firebreak")
    partitions: int = 3
    #: JetStream's dedupe window for Nats-Msg-Id; the durable check in the read model covers later retries.
    dedupe_window_s: int = 600
    #: How long a serving gateway's read model applies in one open transaction before its COMMIT:
    #: nothing waits for it, and a crash loses only this DC's copy, read again from the log (0:
    #: a COMMIT after every batch).
    read_model_commit_s: float = READ_MODEL_COMMIT_S
    dcs: tuple[DCConfig, ...] = field(default_factory=default_dcs)
    limits: Limits = field(default_factory=Limits)
    secrets: Secrets = field(default_factory=Secrets)
    #: None: the log's connections are plain TCP (fine on loopback; not between sites).
    tls: Tls | None = None
    #: A cluster beyond loopback without ``[tls]`` is refused unless this says plaintext is meant
    #: (a private link that is encrypted below, e.g. a VPN).
    allow_plaintext_log: bool = False
    #: The OpenID Connect issuer: the one URL every DC signs tokens as (docs/LOGIN.md). Empty: the
    #: first DC's ``http_url`` (a local cluster).
    oidc_issuer: str = ""

    @property
    def issuer(self) -> str:
        return (self.oidc_issuer or self.dcs[0].http_url).rstrip("/")

    def dc(self, name: str) -> DCConfig:
        for dc in self.dcs:
            if dc.name == name:
                return dc
        raise ConfigError(f"no DC named {name!r} in the config (have: {', '.join(d.name for d in self.dcs)})")

    def nats_urls(self, first: str | None = None) -> list[str]:
        """All NATS URLs, the named DC's first (a gateway prefers its own DC's node)."""
        ordered = sorted(self.dcs, key=lambda d: d.name != first)
        return [d.nats_url for d in ordered]

    def with_data_dir(self, path: Path) -> Config:
        return replace(self, data_dir=path)

    @property
    def loopback_only(self) -> bool:
        """Every DC's host and bind address is on this machine's loopback (a laptop cluster)."""
        return all(_is_loopback(a) for dc in self.dcs for a in (dc.host, dc.bind) if a is not None)


def _is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def check_secrets(config: Config) -> None:
    """Refuses a config a cluster must not run with: a secret missing, or, unless every address
    is loopback, a published or short secret or clear-text log traffic (:func:`check_transport`).
    Called before anything is started or printed."""
    s = config.secrets
    missing = [name for name in SECRET_FIELDS if not getattr(s, name)]
    if missing:
        where = "" if config.loopback_only else " (generated ones are only for loopback-only clusters)"
        raise ConfigError(f"[secrets] {', '.join(missing)} must be set{where}")
    if config.loopback_only:
        return
    weak = [name for name in SECRET_FIELDS if getattr(s, name) in PUBLISHED_SECRETS]
    if weak:
        raise ConfigError(
            f"[secrets] {', '.join(weak)}: a published development value; a cluster reachable beyond "
            "this machine needs its own (e.g. python3 -c 'import secrets; print(secrets.token_urlsafe())')"
        )
    short = [name for name in SECRET_FIELDS if len(getattr(s, name)) < MIN_SECRET_CHARS]
    if short:
        raise ConfigError(f"[secrets] {', '.join(short)}: at least {MIN_SECRET_CHARS} characters")
    check_transport(config)


def check_transport(config: Config) -> None:
    """Refuses NATS traffic in clear text beyond this machine unless the config says it is meant."""
    if config.tls is None and not config.loopback_only and not config.allow_plaintext_log:
        raise ConfigError(
            "this cluster reaches beyond loopback: set [tls] (docs/SECURITY.md) or, if the links "
            "are encrypted below NATS, allow_plaintext_log = true in [cluster]"
        )
