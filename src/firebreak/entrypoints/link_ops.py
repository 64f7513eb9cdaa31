"""What ``firebreak dc cut|heal|link DC`` do to a running local cluster's links (supervisor.py).

On isolated DCs (``up --isolated-dcs``) a cut is a pair of blackhole routes per link
(localcluster/netns.py); with link proxies (``up --link-...``) it is the proxies refusing and
closing the link's connections, and ``link`` sets a DC's links' delay, jitter and loss
(localcluster/links.py). A heal restores the links ``up`` started with.
"""

from __future__ import annotations

from typing import Any

import msgspec

from firebreak.errors import BadRequest
from firebreak.localcluster import LocalCluster
from firebreak.localcluster.linkfaults import LinkFault


def fault_of(request: dict[str, Any]) -> LinkFault:
    try:
        return msgspec.convert(request.get("fault") or {}, LinkFault).check()
    except msgspec.ValidationError as exc:
        raise BadRequest(f"bad link fault: {exc}", code="invalid_link") from exc


def act(cluster: LocalCluster, action: str, dc: str, request: dict[str, Any]) -> dict[str, Any]:
    links, sites = cluster.links, cluster.sites
    if sites is not None and action != "link":
        (sites.isolate if action == "cut" else sites.rejoin)(dc)
        cut = sorted("-".join(sorted(link)) for link in sites.cuts())
        return {"dc": dc, "action": action, "cut_links": cut}
    if links is None:
        raise BadRequest(
            f"'{action}' needs link proxies (start the cluster with 'firebreak up --link-proxies' or a "
            "--link-... option)" + ("" if action == "link" else " or isolated DCs ('--isolated-dcs')"),
            code="no_link_proxies",
        )
    to = request.get("to")
    to = str(to) if to else None
    if action == "cut":
        links.set_dc(dc, LinkFault(cut=True), to)
    elif action == "heal":
        links.set_dc(dc, links.default, to)
    else:
        links.set_dc(dc, fault_of(request), to)
    faults = {name: fault.describe() for name, fault in links.faults().items()}
    return {"dc": dc, "action": action, "cut_links": links.cuts(), "links": faults}
