"""The nemesis's faults: what an operation ``Op("start", {"kind": ...},
process="nemesis")`` sets up (:class:`harness.world.ops.Client`).

The operations live in the world (one layer down), which does not import
the faults: importing this module (``harness.faults`` does) plugs these
kinds in (``harness.world.ops.NEMESIS``).
"""
from __future__ import annotations

from typing import Callable

from harness.faults import driver, placement
from harness.world import ops as _ops

KINDS: dict[str, Callable] = {
    # the host's driver fails its resource report: the audit raises
    "driver_raises": lambda w, host: driver.DriverRaises(
        w, host, "get_available_resource"),
    # placement answers 500 to every write (allocations, inventories)
    "placement_write_error": lambda w: placement.PlacementError(
        w, method="PUT"),
    # every placement write conflicts on generation
    "generation_conflict": lambda w: placement.GenerationConflict(
        w, method="PUT"),
}
FAULT_KINDS = tuple(sorted(KINDS))

_ops.NEMESIS.update(KINDS)
