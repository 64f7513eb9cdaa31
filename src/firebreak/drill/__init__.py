"""Fire drills: burn DCs under a seeded workload and check, Jepsen-style, that nothing was lost."""
