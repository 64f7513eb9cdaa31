"""No secret is built in (docs/SECURITY.md): a laptop cluster gets generated ones, kept with its
data; a cluster reachable beyond this machine refuses to start without its own; nothing it writes
is readable by other users; the monitoring port stays on loopback."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
from pathlib import Path

import httpx
import nats
import pytest

from firebreak.adapters.nats_server_conf import nats_conf
from firebreak.config import PUBLISHED_SECRETS, Config
from firebreak.config_file import load_config
from firebreak.entrypoints.cli import main
from firebreak.errors import ConfigError
from firebreak.localcluster import LocalCluster, ephemeral_config, free_ports
from firebreak.localcluster.secrets import with_local_secrets
from tests.helpers import read_until, run_cli, spawn_up, stop_up

SITES = """
[cluster]
data_dir = "data"
{secrets}
[[dc]]
name = "seoul"
host = "10.1.0.10"

[[dc]]
name = "busan"
host = "10.2.0.10"

[[dc]]
name = "daejeon"
host = "10.3.0.10"
"""
GOOD = """[secrets]
nats_password = "n-0123456789abcdef"
ops_nats_password = "p-0123456789abcdef"
route_password = "r-0123456789abcdef"
ops_token = "o-0123456789abcdef"
"""
PUBLISHED = """[secrets]
nats_password = "firebreak-dev-password"
ops_nats_password = "p-0123456789abcdef"
route_password = "firebreak-dev-route-password"
ops_token = "firebreak-dev-ops-token"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cluster.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("secrets", "says"),
    [("", "must be set"), (PUBLISHED, "published"), (GOOD.replace("0123456789abcdef", "x"), "at least 16")],
)
def test_nats_config_refuses_to_print_a_site_config_without_its_own_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], secrets: str, says: str
) -> None:
    path = write(tmp_path, SITES.format(secrets=secrets))
    assert main(["nats-config", "--dc", "seoul", "--config", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "config_error" in err and says in err, err


TLS = """[tls]
ca_file = "certs/ca.pem"
cert_file = "certs/{dc}.pem"
key_file = "certs/{dc}-key.pem"
"""


def test_a_site_config_with_its_own_secrets_is_printed_with_monitoring_on_loopback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, SITES.format(secrets=GOOD + TLS))
    assert main(["nats-config", "--dc", "seoul", "--config", str(path)]) == 0
    text = capsys.readouterr().out
    assert 'listen: "10.1.0.10:4222"' in text, "clients and routes listen on the DC's address"
    assert 'http: "127.0.0.1:8222"' in text, "the unauthenticated monitoring port stays on loopback"
    assert f'cert_file: "{tmp_path}/certs/seoul.pem"' in text, "TLS paths are the DC's, absolute"
    assert "verify: true" in text, "routes use mutual TLS"


def test_a_site_config_without_tls_is_refused_unless_plaintext_is_meant(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, SITES.format(secrets=GOOD))
    assert main(["nats-config", "--dc", "seoul", "--config", str(path)]) == 2
    assert "[tls]" in capsys.readouterr().err
    meant = SITES.format(secrets=GOOD).replace(
        'data_dir = "data"', 'data_dir = "data"\nallow_plaintext_log = true'
    )
    assert main(["nats-config", "--dc", "seoul", "--config", str(write(tmp_path, meant))]) == 0
    assert "tls {" not in capsys.readouterr().out


@pytest.mark.parametrize("command", ["gateway", "nats"])
async def test_processes_of_a_site_refuse_to_start_without_their_own_secrets(
    tmp_path: Path, command: str
) -> None:
    """Published secrets on site addresses; none on loopback hosts with a public bind (what
    counts is where a process listens)."""
    public_bind = SITES.format(secrets="").replace('"10.', '"127.') + 'bind = "0.0.0.0"\n'
    for text in (SITES.format(secrets=PUBLISHED), public_bind):
        path = write(tmp_path, text)
        code, out = await run_cli(command, "--dc", "seoul", "--config", str(path), within_s=30)
        assert code == 2 and "config_error" in out and "[secrets]" in out, out


def test_a_loopback_cluster_gets_generated_secrets_kept_with_its_data(tmp_path: Path) -> None:
    first = with_local_secrets(Config(data_dir=tmp_path / "a"))
    again = with_local_secrets(load_config(None).with_data_dir(tmp_path / "a"))
    other = with_local_secrets(Config(data_dir=tmp_path / "b"))
    assert first.secrets == again.secrets, "a restart keeps the secrets"
    assert first.secrets.ops_token != other.secrets.ops_token, "each cluster has its own"
    s = first.secrets
    for value in (s.nats_password, s.ops_nats_password, s.route_password, s.ops_token):
        assert value not in PUBLISHED_SECRETS and len(value) >= 40
    kept = tmp_path / "a" / "secrets.toml"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert stat.S_IMODE(kept.parent.stat().st_mode) == 0o700
    assert first.secrets.ops_token in kept.read_text()


def test_secrets_that_would_break_out_of_nats_conf_are_refused(tmp_path: Path) -> None:
    # A TOML literal string: a quote and a brace that would end the password in nats.conf.
    breaking = GOOD.replace('"n-0123456789abcdef"', """'n-0123456789abcdef" } users: [ '""")
    path = write(tmp_path, SITES.format(secrets=breaking))
    with pytest.raises(ConfigError, match="nats_password"):
        load_config(path)


def test_ephemeral_clusters_get_secrets_of_their_own(tmp_path: Path) -> None:
    one, two = ephemeral_config(tmp_path / "one"), ephemeral_config(tmp_path / "two")
    assert one.secrets != two.secrets
    assert not {one.secrets.nats_password, one.secrets.ops_token} & PUBLISHED_SECRETS
    assert 'http: "127.0.0.1:' in nats_conf(one, one.dcs[0])


def private(root: Path) -> list[str]:
    """Everything under ``root`` that a group or other users may read, write or enter.

    The cluster keeps running while this walks it: nats-server removes message blocks as it
    compacts, so a path listed a moment ago may be gone; a file that no longer exists exposes nothing.
    """
    found = []
    # os.walk skips a directory that vanishes under it, where Path.rglob would raise.
    paths = [root]
    for top, dirs, files in os.walk(root):
        paths += [Path(top, name) for name in (*dirs, *files)]
    for p in paths:
        try:
            mode = p.stat().st_mode
        except FileNotFoundError:
            continue
        if mode & 0o077:
            found.append(f"{p} {oct(stat.S_IMODE(mode))}")
    return found


async def test_nothing_a_cluster_writes_is_readable_by_other_users(cluster: LocalCluster) -> None:
    data = cluster.config.data_dir
    for name in ("cluster.toml", "dc1/nats.conf", "dc1/gateway/read-model.sqlite3", "dc1/gateway.log"):
        assert (data / name).exists(), name
    assert private(data) == []


async def connects(url: str, user: str, password: str) -> bool:
    try:
        nc = await nats.connect(url, user=user, password=password, allow_reconnect=False, connect_timeout=2)
    except Exception:  # nats-py raises several types for a refused connection
        return False
    await nc.close()
    return True


async def test_up_without_secrets_generates_them_and_a_restart_keeps_working(tmp_path: Path) -> None:
    """The attack of issue 14: with the published password anyone reaching a NATS port read the
    token key and every message, and the published ops token drained a DC over HTTP."""
    ports = free_ports(12)
    dcs = "".join(
        f'[[dc]]\nname = "dc{i + 1}"\nnats_port = {ports[4 * i]}\ncluster_port = {ports[4 * i + 1]}\n'
        f"monitor_port = {ports[4 * i + 2]}\nhttp_port = {ports[4 * i + 3]}\n"
        for i in range(3)
    )
    path = write(tmp_path, f'[cluster]\ndata_dir = "data"\n\n{dcs}')
    config = load_config(path)
    token = None
    for start in range(2):
        proc = await spawn_up(path)
        assert proc.stdout is not None
        seen: list[str] = []
        try:
            await read_until(proc.stdout, "ready.", 120, seen)
            kept = with_local_secrets(config).secrets
            dc = config.dcs[start]
            assert not await connects(dc.nats_url, "firebreak", "firebreak-dev-password")
            assert await connects(dc.nats_url, kept.nats_user, kept.nats_password)
            async with httpx.AsyncClient(base_url=dc.http_url, timeout=30) as http:
                published = await http.post(
                    "/internal/drain", headers={"x-ops-token": "firebreak-dev-ops-token"}
                )
                assert published.status_code == 403 and published.json()["error"]["code"] == "ops_only"
                digest = await http.get("/internal/digest", headers={"x-ops-token": kept.ops_token})
                assert digest.status_code == 200
                if token is None:
                    body = {"username": "keeper", "password": "a long password", "request_id": "r1"}
                    assert (await http.post("/v1/accounts", json=body)).status_code == 201
                    login = await http.post(
                        "/v1/sessions", json={"username": "keeper", "password": "a long password"}
                    )
                    token = login.json()["token"]
                me = await http.get("/v1/me", headers={"authorization": f"Bearer {token}"})
                assert me.status_code == 200, "the restarted cluster serves its data and its tokens"
            assert private(config.data_dir) == []
            proc.send_signal(signal.SIGINT)
            await read_until(proc.stdout, "stopped; data kept.", 60, seen)
            assert await asyncio.wait_for(proc.wait(), 60) == 0
        finally:
            await stop_up(proc)


def test_a_secrets_file_from_before_the_ops_user_still_works_and_stays_the_same(tmp_path: Path) -> None:
    kept = tmp_path / "a" / "secrets.toml"
    kept.parent.mkdir(mode=0o700)
    kept.write_text('nats_password = "n-1"\nroute_password = "r-1"\nops_token = "o-1"\n')
    kept.chmod(0o600)
    one = with_local_secrets(Config(data_dir=tmp_path / "a"))
    two = with_local_secrets(Config(data_dir=tmp_path / "a"))
    assert one.secrets.nats_password == "n-1"
    assert one.secrets.ops_nats_password == two.secrets.ops_nats_password, "every process derives the same"
    assert one.secrets.ops_nats_password not in ("", "r-1")
