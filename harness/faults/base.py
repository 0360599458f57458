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


# What a fault does to Nova's records: its data-authority class.  The
# class decides whether Nova could have known better (a, c: the facts to
# detect it are there; b: it could not), and, with ``reach``, who can
# produce the trigger.  See docs/verdicts-schema.md, "Data authority".
INCONSISTENT = "inconsistent"      # (a) records mutually inconsistent
FORGERY = "forgery"                # (b) authoritative record rewritten
#                                    self-consistently: Nova cannot know
INADMISSIBLE = "inadmissible"      # (c) a value the API would never admit
INFRASTRUCTURE = "infrastructure"  # (d) placement/driver/network failures
TIMING = "timing"                  # (e) timing or interleaving
NONE = "none"                      # no fault: ordinary input
AUTHORITY_CLASSES = {
    INCONSISTENT: "(a) makes Nova's records mutually inconsistent: Nova "
                  "holds the facts needed to detect it",
    FORGERY: "(b) rewrites an authoritative record self-consistently: "
             "Nova cannot know, expected values follow the record",
    INADMISSIBLE: "(c) writes a value the API would never admit",
    INFRASTRUCTURE: "(d) fails infrastructure: placement errors, lost "
                    "responses, timeouts, driver errors",
    TIMING: "(e) changes timing or interleaving",
    NONE: "no fault: input an API user or operator can produce",
}
# Who can produce a trigger of each class, when the fault says no more.
DEFAULT_REACH = {
    INCONSISTENT: "someone with database write access",
    FORGERY: "someone with database write access",
    INADMISSIBLE: "someone with database write access",
    INFRASTRUCTURE: "an infrastructure fault",
    TIMING: "a race",
    NONE: "a user through the API under default policy",
}


class Fault(fixtures.Fixture):
    """A fault bound to a world.  Subclasses implement ``inject``; anything
    they register with ``addCleanup`` undoes it.

    Every fault declares its data-authority class (``authority``, one of
    :data:`AUTHORITY_CLASSES`) and who can produce it (``reach``); a
    subclass whose class depends on its arguments overrides
    :meth:`authority_class`.  A FORGERY fault also implements
    :meth:`learn`: the ledger learns what the database now says, so the
    invariants expect Nova to follow the rewritten record.
    """
    authority = ""
    reach = ""

    def __init__(self, world):
        super().__init__()
        self.world = world
        # What the engine stored differently from what the fault wrote
        # (read back after each write; see harness.faults.records).
        self.coerced: list[str] = []

    def coercions(self) -> list[str]:
        """Every "coerced by <engine>: ..." note of this fault's writes."""
        return list(self.coerced)

    def authority_class(self) -> str:
        if self.authority not in AUTHORITY_CLASSES:  # pragma: no cover
            raise TypeError("%s declares no data-authority class"
                            % type(self).__name__)
        return self.authority

    def who(self) -> str:
        """Who can produce this trigger."""
        return self.reach or DEFAULT_REACH[self.authority_class()]

    def learn(self, ledger) -> None:
        """FORGERY faults: make ``ledger`` expect what the rewritten record
        says.  Other classes leave the ledger with the truth."""
        if self.authority_class() == FORGERY:  # pragma: no cover
            raise NotImplementedError(
                "%s is a forgery but does not teach the ledger"
                % type(self).__name__)

    def describe(self) -> str:  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    def inject(self):  # pragma: no cover
        raise NotImplementedError

    def _setUp(self):
        # While a fault is in, the world does not teach the ledger what the
        # records say (a record fault would teach it the lie).
        held = getattr(self.world, "faults_in", None)
        if held is not None:
            held.append(self)
            self.addCleanup(held.remove, self)
        self.inject()
        self.world.trace.step("fault", "inject", fault=self.describe())
        note = getattr(self.world, "note", None)
        if note is not None:
            note("fault", fault=self)
            self.addCleanup(note, "fault_cleared", fault=self)
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

    # The combination is as strong as its most Nova-detectable part: a
    # forgery combined with an inconsistency is detectable.
    _ORDER = (INFRASTRUCTURE, TIMING, INADMISSIBLE, INCONSISTENT, FORGERY,
              NONE)

    def authority_class(self) -> str:
        classes = {f.authority_class() for f in self.faults}
        return next(c for c in self._ORDER if c in classes)

    def who(self) -> str:
        return "; ".join(sorted({f.who() for f in self.faults}))

    def learn(self, ledger) -> None:
        for f in self.faults:
            if f.authority_class() == FORGERY:
                f.learn(ledger)

    def inject(self):
        for fault in self.faults:
            self.useFixture(fault)

    def coercions(self) -> list[str]:
        return [note for f in self.faults for note in f.coercions()]
