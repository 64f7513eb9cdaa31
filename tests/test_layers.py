"""The layering cannot erode silently: each package of firebreak imports only the packages its
layer may use (docs/ARCHITECTURE.md, "Parts"). A new import that reaches past a neighbour fails
here; make it go through the layer in between, or, if it truly belongs, add it below with why."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "src" / "firebreak"

BASE = {"errors", "retry", "tasks", "config", "config_file", "limits", "private_files"}
#: package -> the firebreak packages it may import (besides itself and BASE).
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "retry": set(),
    "tasks": set(),
    "config": set(),
    "limits": set(),
    "config_file": set(),
    "private_files": set(),
    "stats": set(),
    "__init__": set(),
    "domain": set(),  # pure: no I/O, nothing but rules and events
    "wire": {"domain"},  # the schema shared by the gateway and the clients
    "adapters": {"domain"},
    "service": {"adapters", "domain", "wire"},
    "bootstrap": {"service", "adapters", "domain", "wire"},  # the one place that builds parts
    "client": {"wire", "domain"},  # never the server's service layer
    "localcluster": {"adapters"},
    # The entrypoints use the service layer as bootstrap builds it, the client, and the tools.
    "entrypoints": {"bootstrap", "service", "client", "wire", "domain", "localcluster", "drill", "bench"},
    # Tools that measure or break the engine itself (the raw log rate, a rebuild, a forged event).
    "drill": {"adapters", "bootstrap", "client", "domain", "localcluster", "stats", "wire"},
    # The files bench uploads through the client library, as an app would.
    "bench": {"adapters", "bootstrap", "client", "service", "domain", "localcluster", "stats", "wire"},
}
#: (module, package) pairs allowed beyond ALLOWED, each with its reason.
EXCEPTIONS = {
    # `firebreak nats-config` prints what `firebreak nats` writes: the same text, not a second copy.
    ("entrypoints/cli.py", "adapters"),
    # Operators' status and leader moves talk to the log with the ops credential, no gateway needed.
    ("entrypoints/dcops.py", "adapters"),
    # What an idle socket costs is measured on the gateway's own WebSocket protocol, not a copy.
    ("bench/idle_sockets.py", "entrypoints"),
}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = (
                [node.module] if node.module != "firebreak" else [f"firebreak.{a.name}" for a in node.names]
            )
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        found.update(n.split(".")[1] for n in names if n.startswith("firebreak."))
    return found


def test_every_package_imports_only_its_neighbours() -> None:
    wrong = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT)
        package = rel.parts[0].removesuffix(".py")
        assert package in ALLOWED, f"{package}: a new package; say which layer it is in ALLOWED"
        for imported in _imports(path) - {package} - BASE:
            if imported not in ALLOWED[package] and (rel.as_posix(), imported) not in EXCEPTIONS:
                wrong.append(f"{rel} imports firebreak.{imported}")
    assert not wrong, "\n".join(wrong)


def test_the_rules_can_fail(tmp_path: Path) -> None:
    stray = tmp_path / "stray.py"
    stray.write_text("from firebreak.service.rooms import Rooms\nimport firebreak.adapters.nats_log\n")
    assert _imports(stray) == {"service", "adapters"}
    assert "service" not in ALLOWED["client"] and "adapters" not in ALLOWED["domain"]
