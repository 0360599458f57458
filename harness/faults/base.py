"""The common shape of a fault."""
from __future__ import annotations

import fixtures


class NotApplicable(Exception):
    """The fault cannot be injected into this world (e.g. altering a stashed
    flavor a live migration never has).  The variant is skipped and listed
    as such in the fault space; it is neither evidence nor a harness error."""

    # how the fault space labels the variant
    kind = "skipped"


class EngineRefused(NotApplicable):
    """The database engine refused the fault's write (a value its column
    type, enum, length or foreign key does not admit): production on that
    engine can never hold this state.  Listed in the fault space as
    "refused by engine", with the engine and its reason."""

    kind = "refused by engine"


class Fault(fixtures.Fixture):
    """A fault bound to a world.  Subclasses implement ``inject``; anything
    they register with ``addCleanup`` undoes it."""

    def __init__(self, world):
        super().__init__()
        self.world = world
        # What the engine stored differently from what the fault wrote
        # (read back after each write; see harness.faults.records).
        self.coerced: list[str] = []

    def coercions(self) -> list[str]:
        """Every "coerced by <engine>: ..." note of this fault's writes."""
        return list(self.coerced)

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

    def coercions(self) -> list[str]:
        return [note for f in self.faults for note in f.coercions()]
