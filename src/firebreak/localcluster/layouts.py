"""Cluster layouts for local clusters: three DCs on free loopback ports, or on isolated DCs
(network namespaces), each with secrets of its own."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from firebreak.config import Config, DCConfig, Secrets
from firebreak.limits import Limits
from firebreak.localcluster.netns import Sites
from firebreak.localcluster.processes import free_ports
from firebreak.localcluster.secrets import generated


def ephemeral_config(
    data_dir: Path, *, partitions: int = 3, limits: Limits | None = None, gateways: int = 1
) -> Config:
    """A three-DC layout on free loopback ports (for tests and drills that must not collide), with
    secrets of its own: a test's or a drill's cluster is no easier to reach than a real one.
    ``gateways``: gateway processes per DC (several: each with its own port too)."""
    own = gateways if gateways > 1 else 0  # each process's own port (DCConfig.process_ports)
    ports = free_ports(3 * (4 + own))
    dcs = tuple(
        DCConfig(
            name=f"dc{i + 1}",
            nats_port=ports[4 * i],
            cluster_port=ports[4 * i + 1],
            monitor_port=ports[4 * i + 2],
            http_port=ports[4 * i + 3],
            gateways=gateways,
            process_ports=tuple(ports[12 + own * i : 12 + own * (i + 1)]),
        )
        for i in range(3)
    )
    return Config(
        data_dir=data_dir,
        dcs=dcs,
        partitions=partitions,
        limits=limits or Limits(),
        secrets=Secrets(**generated()),
    )


def isolated_config(
    data_dir: Path, sites: Sites, *, partitions: int = 3, limits: Limits | None = None, gateways: int = 1
) -> Config:
    """A three-DC layout on isolated DCs (localcluster/netns.py), with secrets of its own.
    ``gateways``: gateway processes per DC (several: each also on a port of its own, the ports
    after the DC's ``http_port``: each DC has an address of its own, so the same ports in every DC)."""
    shared = DCConfig.http_port  # the default, the same at every isolated DC
    own = tuple(range(shared + 1, shared + 1 + gateways)) if gateways > 1 else ()
    return on_sites(
        Config(
            data_dir=data_dir,
            dcs=tuple(DCConfig(name=name, gateways=gateways, process_ports=own) for name in sites.dcs),
            partitions=partitions,
            limits=limits or Limits(),
            secrets=Secrets(**generated()),
        ),
        sites,
    )


def on_sites(config: Config, sites: Sites) -> Config:
    """``config`` with each DC at its isolated address (localcluster/netns.py); the ports stay, as
    each DC has its own. The links between the DCs are virtual interfaces inside this machine,
    hence ``allow_plaintext_log``."""
    dcs = tuple(dataclasses.replace(dc, host=sites.address(dc.name), bind=None) for dc in config.dcs)
    return dataclasses.replace(config, dcs=dcs, allow_plaintext_log=True)
