"""The cluster's TOML file: read (every key checked by type, the rules in config.py applied) and
written back (``dump_config``: what a local cluster hands its processes)."""

from __future__ import annotations

import dataclasses
import tomllib
import typing
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from firebreak.config import SECRET_CHARS, Config, DCConfig, Secrets, Tls, default_dcs
from firebreak.errors import ConfigError
from firebreak.limits import CHANGE_WINDOW_CAP_S, Limits


def _check_secret_chars(secrets: Secrets) -> None:
    for name, value in vars(secrets).items():
        if not isinstance(value, str) or not SECRET_CHARS.fullmatch(value):
            raise ConfigError(f"[secrets] {name}: only letters, digits and . _ ~ - are allowed")
    users = (secrets.nats_user, secrets.ops_nats_user, secrets.route_user)
    if not all(users):
        raise ConfigError("[secrets] nats_user, ops_nats_user and route_user must not be empty")
    if len(set(users)) != len(users):
        raise ConfigError("[secrets] nats_user, ops_nats_user and route_user must differ")


T = TypeVar("T")


def _build(cls: type[T], raw: dict[str, Any], where: str, built: dict[str, Any] | None = None) -> T:
    """``cls`` from a TOML table, every value checked against the field's type (``built``: fields
    already made from other tables). Any unknown key or wrong type is a ConfigError naming it."""
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)} - set(built or {})  # type: ignore[arg-type]
    unknown = sorted(set(raw) - fields)
    if unknown:
        raise ConfigError(f"[{where}] has no key {', '.join(unknown)} (known: {', '.join(sorted(fields))})")
    typed: dict[str, Any] = {}
    for key, value in raw.items():
        hint = hints[key]
        try:
            if hint is Path:
                typed[key] = Path(msgspec.convert(value, str))
            else:
                typed[key] = msgspec.convert(value, hint)
        except msgspec.ValidationError as exc:
            expected = str(exc).split(",")[0].lower()  # msgspec: "Expected `int`, got `str`"
            raise ConfigError(f"[{where}] {key}: {expected}, got {value!r}") from exc
    return cls(**typed, **(built or {}))


#: Gateway processes per DC: each applies every event to its own read model.
MAX_GATEWAYS_PER_DC = 16


def load_config(path: Path | None) -> Config:
    """Reads a TOML config; a missing ``path`` (None) gives the local three-DC defaults."""
    if path is None:
        return Config()
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config {path}: {exc}") from exc
    cluster = dict(raw.pop("cluster", {}))
    limits = _build(Limits, dict(raw.pop("limits", {})), "limits")
    secrets = _build(Secrets, dict(raw.pop("secrets", {})), "secrets")
    _check_secret_chars(secrets)
    tls = _tls(raw.pop("tls", None), path.parent)
    dcs_raw = raw.pop("dc", None)
    if raw:
        raise ConfigError(f"unknown config sections: {', '.join(sorted(raw))}")
    dcs = tuple(_build(DCConfig, dict(d), "dc") for d in dcs_raw) if dcs_raw else default_dcs()
    config = _build(
        Config, cluster, "cluster", {"dcs": dcs, "limits": limits, "secrets": secrets, "tls": tls}
    )
    if "data_dir" in cluster and not config.data_dir.is_absolute():
        config = config.with_data_dir(path.parent / config.data_dir)
    if len(config.dcs) < 3:
        raise ConfigError("a cluster needs at least three DCs (one replica of the log in each)")
    if len({d.name for d in config.dcs}) != len(config.dcs):
        raise ConfigError("DC names must be unique")
    for dc in config.dcs:
        _check_gateways(dc)
    _check_ports(config)
    if not 1 <= config.partitions <= 64:
        raise ConfigError("partitions must be between 1 and 64")
    if not 0 <= config.read_model_commit_s <= 3600:
        raise ConfigError("read_model_commit_s must be between 0 and 3600 seconds")
    _check_write_limits(config.limits)
    for window in ("login_window_s", "register_window_s"):
        # The counters' stream keeps each for the longest window (adapters/counters.py); a day at most.
        if not 1 <= getattr(config.limits, window) <= 24 * 3600:
            raise ConfigError(f"[limits] {window} must be between 1 and 86400 seconds")
    for name in ("oidc_code_ttl_s", "oidc_access_token_ttl_s", "oidc_id_token_ttl_s", "oidc_refresh_ttl_s",
                 "oidc_redirect_uris_max", "oidc_sites_list_max"):  # fmt: skip
        if getattr(config.limits, name) < 1:
            raise ConfigError(f"[limits] {name} must be at least 1")
    if config.limits.oidc_key_publish_s < 0:
        raise ConfigError("[limits] oidc_key_publish_s must be at least 0")
    for window in ("edit_window_s", "delete_window_s"):
        # The projection's hard caps: a longer window would be refused there in every DC.
        if not 1 <= getattr(config.limits, window) <= CHANGE_WINDOW_CAP_S:
            raise ConfigError(f"[limits] {window} must be between 1 and {CHANGE_WINDOW_CAP_S} seconds")
    _check_presence_limits(config.limits)
    return config


def _check_gateways(dc: DCConfig) -> None:
    if not 1 <= dc.gateways <= MAX_GATEWAYS_PER_DC:
        raise ConfigError(f"a DC's gateways must be between 1 and {MAX_GATEWAYS_PER_DC} processes")
    if not dc.process_ports:
        return
    if dc.gateways == 1:
        raise ConfigError(f"[[dc]] {dc.name}: process_ports is for a DC with several gateway processes")
    if len(dc.process_ports) != dc.gateways:
        raise ConfigError(
            f"[[dc]] {dc.name}: process_ports needs a port for each of its {dc.gateways} gateways"
        )
    ports = (dc.http_port, *dc.process_ports)
    if len(set(ports)) != len(ports) or not all(1 <= p <= 65535 for p in ports):
        raise ConfigError(f"[[dc]] {dc.name}: process_ports must be distinct ports, none its http_port")


def _check_ports(config: Config) -> None:
    """No two listeners of the layout on one address and port: a clash would show only as a
    process failing at start, or, for two DCs' shared gateway ports (SO_REUSEPORT), as the kernel
    silently dealing one DC's connections to the other. DCs on separate addresses may reuse ports
    (each monitoring port listens on its own host's 127.0.0.1)."""
    seen: dict[tuple[str, int], str] = {}
    for dc in config.dcs:
        address = dc.bind or dc.host
        roles = [
            ("nats", dc.nats_port),
            ("route", dc.cluster_port),
            ("monitoring", dc.monitor_port),
            ("http", dc.http_port),
            *((f"process {k}", port) for k, port in enumerate(dc.process_ports, start=1)),
        ]
        for role, port in roles:
            what = f"{dc.name}'s {role} port {port}"
            if not 1 <= port <= 65535:
                raise ConfigError(f"[[dc]] {what} is not a TCP port")
            other = seen.setdefault((address, port), what)
            if other != what:
                raise ConfigError(f"[[dc]] {what} is also {other} (both on {address})")


def _check_presence_limits(limits: Limits) -> None:
    for name in ("typing_rate_per_s", "typing_ttl_s", "presence_beat_s"):
        if not getattr(limits, name) > 0:
            raise ConfigError(f"[limits] {name} must be above 0")
    if limits.typing_burst < 1:
        raise ConfigError("[limits] typing_burst must be at least 1")
    # Entries are renewed by beats: an expiry within one beat would let users flicker offline.
    if not limits.presence_expiry_s >= 2 * limits.presence_beat_s:
        # One late pulse must not take a process's users offline (and cost a list from it).
        raise ConfigError("[limits] presence_expiry_s must be at least twice presence_beat_s")


def _tls(raw: dict[str, Any] | None, base: Path) -> Tls | None:
    if raw is None:
        return None
    tls = _build(Tls, dict(raw), "tls")
    if not (tls.ca_file and tls.cert_file and tls.key_file):
        raise ConfigError("[tls] needs ca_file, cert_file and key_file")

    def absolute(p: str) -> str:
        return p if Path(p).is_absolute() else str(base / p)

    return Tls(absolute(tls.ca_file), absolute(tls.cert_file), absolute(tls.key_file))


def _check_write_limits(limits: Limits) -> None:
    for rate in ("send_rate_per_s", "read_rate_per_s", "room_changes_per_min", "profile_changes_per_min"):
        if not getattr(limits, rate) > 0:
            raise ConfigError(f"[limits] {rate} must be above 0")
    for count in ("send_burst", "read_burst", "room_change_burst", "profile_change_burst"):
        if getattr(limits, count) < 1:
            raise ConfigError(f"[limits] {count} must be at least 1")
    if limits.writes_in_flight < 1 or limits.max_ws_per_user < 1 or limits.ws_commands_in_flight < 1:
        raise ConfigError(
            "[limits] writes_in_flight, max_ws_per_user and ws_commands_in_flight must be at least 1"
        )
    if limits.max_ws_frame_bytes < 1024:
        raise ConfigError("[limits] max_ws_frame_bytes must be at least 1024")


def _toml_value(value: object) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def dump_config(config: Config) -> str:
    """The TOML text that :func:`load_config` reads back as an equal Config (absolute data_dir)."""
    lines = ["[cluster]"]
    lines.append(f"cluster_name = {_toml_value(config.cluster_name)}")
    lines.append(f"data_dir = {_toml_value(config.data_dir.resolve())}")
    lines.append(f"partitions = {config.partitions}")
    lines.append(f"dedupe_window_s = {config.dedupe_window_s}")
    lines.append(f"read_model_commit_s = {_toml_value(config.read_model_commit_s)}")
    lines.append(f"allow_plaintext_log = {_toml_value(config.allow_plaintext_log)}")
    lines.append(f"oidc_issuer = {_toml_value(config.oidc_issuer)}")
    sections: list[tuple[str, object]] = [("limits", config.limits), ("secrets", config.secrets)]
    if config.tls is not None:
        sections.append(("tls", config.tls))
    for section, obj in sections:
        lines.append(f"\n[{section}]")
        lines.extend(f"{k} = {_toml_value(v)}" for k, v in vars(obj).items())
    for dc in config.dcs:
        lines.append("\n[[dc]]")
        lines.extend(f"{k} = {_toml_value(v)}" for k, v in vars(dc).items() if v is not None)
    return "\n".join(lines) + "\n"
