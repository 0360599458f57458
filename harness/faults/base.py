"""The common shape of a fault."""
from __future__ import annotations

import fixtures


class NotApplicable(Exception):
    """The fault cannot be injected into this world (e.g. altering a stashed
    flavor a live migration never has).  The variant is skipped and listed
    as such in the fault space; it is neither evidence nor a harness error."""


class Fault(fixtures.Fixture):
    """A fault bound to a world.  Subclasses implement ``inject``; anything
    they register with ``addCleanup`` undoes it."""

    def __init__(self, world):
        super().__init__()
        self.world = world

    def describe(self) -> str:  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    def inject(self):  # pragma: no cover
        raise NotImplementedError

    def _setUp(self):
        self.inject()
        self.world.trace.step("fault", "inject", fault=self.describe())
        self.addCleanup(self.world.trace.step, "fault", "clear",
                        fault=self.describe())

    def __repr__(self):
        return "<%s %s>" % (type(self).__name__, self.describe())


class Combined(Fault):
    """Several faults at once, injected in order, cleared in reverse."""

    def __init__(self, world, *faults):
        super().__init__(world)
        self.faults = faults

    def describe(self) -> str:
        return " + ".join(f.describe() for f in self.faults)

    def inject(self):
        for fault in self.faults:
            self.useFixture(fault)
