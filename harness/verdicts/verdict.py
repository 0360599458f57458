"""Verdicts and the evidence that decides them."""
from __future__ import annotations

import dataclasses
import enum
from typing import Any


class Verdict(str, enum.Enum):
    CONFIRMED = "CONFIRMED"        # a variant broke an invariant the claim
                                   # predicts, with a clean control
    REFUTED = "REFUTED"            # nothing broke across the stated space
    INCONCLUSIVE = "INCONCLUSIVE"  # the harness could not decide
    NOT_TESTABLE = "NOT_TESTABLE"  # no runtime behaviour exists to observe
    NOT_JUDGED = "NOT_JUDGED"      # catalogued, no scenario yet

    def __str__(self):
        return self.value


@dataclasses.dataclass
class Evidence:
    variant: str
    stage: str
    invariant: str
    subject: str
    expected: Any
    actual: Any
    detail: str = ""
    logs: list[str] = dataclasses.field(default_factory=list)
    faults: list[str] = dataclasses.field(default_factory=list)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    def line(self) -> str:
        return "[%s @ %s] %s: %s: expected %r, got %r%s" % (
            self.variant, self.stage, self.invariant, self.subject,
            self.expected, self.actual,
            (" (%s)" % self.detail) if self.detail else "")


@dataclasses.dataclass
class Outcome:
    """The verdict of one scenario, with what decided it."""
    scenario: str
    claims: list[str]
    verdict: Verdict
    summary: str
    hypothesis: str = ""
    fault_space: list[str] = dataclasses.field(default_factory=list)
    evidence: list[Evidence] = dataclasses.field(default_factory=list)
    rationale: str = ""
    trials: int = 0
    controls: int = 0
    seed: int | None = None
    duration: float = 0.0
    traceback: str | None = None
    stats: dict = dataclasses.field(default_factory=dict)
    # Right for the right reason (harness.verdicts.causation):
    proposition: str = ""              # the claim's/finding's statement
    causation: dict = dataclasses.field(default_factory=dict)
    fault_classes: dict = dataclasses.field(default_factory=dict)
    confirming: list = dataclasses.field(default_factory=list)
    excluded: list = dataclasses.field(default_factory=list)
    reachability: dict = dataclasses.field(default_factory=dict)
    severity: str = ""
    repetitions: dict | None = None
    scope: str = ""                    # what a REFUTED holds within

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["verdict"] = self.verdict.value
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Outcome":
        d = dict(d)
        d["verdict"] = Verdict(d["verdict"])
        d["evidence"] = [Evidence(**e) for e in d.get("evidence", [])]
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


def combine(verdicts: list[Verdict]) -> Verdict:
    """A claim's verdict from its scenarios' verdicts.

    Any CONFIRMED confirms the claim; otherwise any INCONCLUSIVE leaves it
    inconclusive; REFUTED only if every judged scenario refuted it;
    NOT_TESTABLE only if every scenario says so.
    """
    vs = [v for v in verdicts if v is not Verdict.NOT_JUDGED]
    if not vs:
        return Verdict.NOT_JUDGED
    if Verdict.CONFIRMED in vs:
        return Verdict.CONFIRMED
    if Verdict.INCONCLUSIVE in vs:
        return Verdict.INCONCLUSIVE
    if all(v is Verdict.NOT_TESTABLE for v in vs):
        return Verdict.NOT_TESTABLE
    return Verdict.REFUTED
