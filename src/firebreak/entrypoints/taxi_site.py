"""``firebreak up --with-taxi``: the demo site "Firebreak Taxi" (src/firebreak_taxi) beside the
local cluster. It registers the site as an OpenID Connect client through the operators' API (any DC
that answers), then runs the site as a process of its own, with its own database in
``<data_dir>/taxi/``, told the issuer and every DC's address (docs/LOGIN.md, "The demo site")."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from firebreak.config import Config
from firebreak.errors import Unavailable
from firebreak.localcluster.processes import open_log
from firebreak.private_files import PRIVATE_UMASK, make_private_dir

#: The site's fixed client id: registering it again (each ``up``) replaces its secret.
CLIENT_ID = "firebreak-taxi"
DEFAULT_PORT = 8010


@dataclass(frozen=True)
class Registration:
    client_id: str
    client_secret: str | None
    issuer: str


async def register(config: Config, public_url: str) -> Registration:
    """Registers (or re-registers, with a new secret) the taxi site as a confidential client."""
    body = {
        "name": "Firebreak Taxi",
        "client_id": CLIENT_ID,
        "redirect_uris": [public_url + "/callback"],
        "post_logout_redirect_uris": [public_url + "/"],
        "replace": True,
    }
    last = "no DC"
    async with httpx.AsyncClient(timeout=10.0) as http:
        for dc in config.dcs:
            try:
                answer = await http.post(
                    dc.http_url + "/internal/oidc/clients",
                    json=body,
                    headers={"x-ops-token": config.secrets.ops_token},
                )
            except httpx.TransportError as exc:
                last = f"{dc.name}: {exc!r}"
                continue
            if answer.status_code == 201:
                data = answer.json()
                return Registration(str(data["client_id"]), data.get("client_secret"), str(data["issuer"]))
            last = f"{dc.name} answered {answer.status_code}: {answer.text[:200]}"
    raise Unavailable(f"could not register the taxi site with the provider ({last})")


class TaxiSite:
    """The site's process."""

    def __init__(
        self,
        config: Config,
        port: int = DEFAULT_PORT,
        host: str = "127.0.0.1",
        watch: Callable[[int], None] = lambda pid: None,
    ) -> None:
        self.config = config
        #: Told the process's pid once started (the local cluster's reaper: it dies with ``up``).
        self._watch = watch
        self.url = f"http://{host}:{port}"
        self.folder = config.data_dir / "taxi"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, registration: Registration, *, refresh_margin_s: float = 10.0) -> None:
        make_private_dir(self.folder)
        args = [sys.executable, "-m", "firebreak_taxi", "--issuer", registration.issuer]
        for dc in self.config.dcs:
            args += ["--provider", dc.http_url]
        args += ["--client-id", registration.client_id, "--public-url", self.url]
        args += [
            "--database",
            str(Path(self.folder) / "taxi.sqlite"),
            "--refresh-margin",
            str(refresh_margin_s),
        ]
        env = dict(os.environ)
        env.pop("TAXI_CLIENT_SECRET", None)
        if registration.client_secret:
            env["TAXI_CLIENT_SECRET"] = registration.client_secret
        out = open_log(self.folder / "taxi.log", "starting the taxi site")
        try:
            self.process = subprocess.Popen(
                args, stdout=out, stderr=out, env=env, start_new_session=True, umask=PRIVATE_UMASK
            )
        finally:
            os.close(out)
        self._watch(self.process.pid)

    async def wait_ready(self, within_s: float = 30.0) -> None:
        end = time.monotonic() + within_s
        async with httpx.AsyncClient(timeout=2.0) as http:
            while True:
                if self.process is not None and self.process.poll() is not None:
                    raise Unavailable(
                        f"the taxi site exited with {self.process.returncode} (see {self.folder}/taxi.log)"
                    )
                try:
                    if (await http.get(self.url + "/healthz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if time.monotonic() > end:
                    raise Unavailable(
                        f"the taxi site did not answer in {within_s:.0f} s (see {self.folder}/taxi.log)"
                    )
                await asyncio.sleep(0.1)

    def exited(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
