"""Which drills run on isolated DCs, and with several gateway processes per DC (drill/plan.py), as
``firebreak drill``'s options say."""

from __future__ import annotations

import argparse

import pytest

from firebreak.drill.plan import DrillOptions, needs_isolated_dcs
from firebreak.entrypoints import drill_cli
from firebreak.errors import BadRequest


def options(*argv: str) -> DrillOptions:
    parser = argparse.ArgumentParser()
    drill_cli.add_parser(parser.add_subparsers())
    return drill_cli.options_from(parser.parse_args(["drill", *argv]))


def test_any_scenario_runs_on_isolated_dcs_when_asked() -> None:
    assert not needs_isolated_dcs(options("--scenario", "fire"))
    fire = options("--scenario", "fire", "--isolated-dcs")
    assert fire.isolated_dcs and needs_isolated_dcs(fire)
    assert needs_isolated_dcs(options("--scenario", "partition")), "partitions always do"


def test_link_proxies_and_isolated_dcs_do_not_mix() -> None:
    with pytest.raises(BadRequest, match="not both"):
        options("--scenario", "slow-dc", "--isolated-dcs")


def test_any_drill_may_run_several_gateway_processes_per_dc() -> None:
    for argv in ((), ("--scenario", "partition"), ("--workload", "bank"), ("--workload", "login")):
        assert options("--gateways-per-dc", "2", *argv).gateways_per_dc == 2, argv
    for argv, says in (
        (("--gateways-per-dc", "0"), "takes 1-16"),
        (("--gateways-per-dc", "17"), "takes 1-16"),
    ):
        with pytest.raises(BadRequest, match=says):
            options(*argv)
