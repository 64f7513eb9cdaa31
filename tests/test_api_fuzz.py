"""API fuzzing from the OpenAPI document (schemathesis) against a real cluster, authenticated:
no 5xx (but a 503 that says "not now": tests/fuzz_checks.py), no status the document does not
list for the operation, no body or content type that breaks the documented response schema.
Bounded in examples and time."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from pathlib import Path

import httpx
import pytest

from firebreak.localcluster import LocalCluster
from tests.helpers import uname

#: In the slow set: the longest test of the main suite, which must stay under 15 minutes.
pytestmark = pytest.mark.slow

#: The project's root, where ``tests.fuzz_checks`` is imported from.
ROOT = Path(__file__).resolve().parent.parent

#: Examples per operation, and the time budget of the whole run (seconds).
EXAMPLES = 15
BUDGET_S = 75


def _schemathesis() -> str:
    found = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert found, "schemathesis comes with the dev extras: .venv/bin/pip install -e '.[dev]'"
    return found


async def test_fuzz_the_documented_api(cluster: LocalCluster, tmp_path: Path) -> None:
    base = cluster.config.dcs[0].http_url
    name, password = uname("fuzz"), "a long password"
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        reg = {"username": name, "password": password, "request_id": "fuzz"}
        assert (await http.post("/v1/accounts", json=reg)).status_code == 201
        login = await http.post("/v1/sessions", json={"username": name, "password": password})
        token = login.json()["token"]
    process = await asyncio.create_subprocess_exec(
        _schemathesis(),
        "run",
        f"{base}/openapi.json",
        "--checks",
        # not_a_server_error, but for a 503 that says "not now" (tests/fuzz_checks.py)
        "no_server_error_but_not_now,status_code_conformance,content_type_conformance,"
        "response_schema_conformance",
        "--max-examples",
        str(EXAMPLES),
        "--max-time",
        str(BUDGET_S),
        "--seed",
        "1",
        "--header",
        f"Authorization: Bearer {token}",
        # Operators' endpoints (drain would take the DC out) and logout (it would revoke the token
        # the rest of the run uses) are left out.
        "--exclude-path-regex",
        "^/internal/|^/v1/sessions/current$",
        "--request-timeout",
        "15",
        "--generation-database",
        "none",
        cwd=tmp_path,
        env={**os.environ, "SCHEMATHESIS_HOOKS": "tests.fuzz_checks", "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    report = output.decode(errors="replace")
    print(report[-4000:])  # the summary (pytest -rP shows it for a passing run)
    assert process.returncode == 0, report[-8000:]
