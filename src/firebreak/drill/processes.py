"""Every gateway process a drill's verdict checks: each at its own port where a DC runs several
(config.DCConfig.process_ports), named ``dc1``, ``dc1#2``, ..."""

from __future__ import annotations

from collections.abc import Iterable

from firebreak.config import DCConfig
from firebreak.errors import ConfigError


def every_process(dcs: Iterable[DCConfig]) -> list[tuple[str, str]]:
    """(label, URL) of every gateway process of ``dcs``. Refuses a DC with several processes but
    no ports of their own: its shared port reaches any one of them, so none could be checked."""
    out = []
    for dc in dcs:
        if dc.gateways > 1 and not dc.process_ports:
            raise ConfigError(f"{dc.name} has several gateway processes but no process_ports")
        out += [(dc.label(k), url) for k, url in dc.process_urls()]
    return out
