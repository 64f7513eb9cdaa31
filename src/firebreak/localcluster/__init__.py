"""Local cluster management: several DCs on one machine (``firebreak up``, tests, drills, benches).

Not an entrypoint: the CLI, the drill and the bench all use it.
"""

from firebreak.localcluster.cluster import LocalCluster
from firebreak.localcluster.layouts import ephemeral_config, isolated_config
from firebreak.localcluster.netns import Sites
from firebreak.localcluster.processes import free_ports

__all__ = ["LocalCluster", "Sites", "ephemeral_config", "free_ports", "isolated_config"]
