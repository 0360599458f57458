"""A step-by-step record of what a scenario did and saw.

Every verb of the world, every fault that fired and every snapshot adds a
step.  ``reproduce`` prints the trace; reports chart it.
"""
from __future__ import annotations

import dataclasses
import itertools
import time
from typing import Any


@dataclasses.dataclass
class Step:
    index: int
    t: float
    kind: str       # world | fault | audit | snapshot | check | note
    what: str
    data: dict[str, Any]

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


class Trace:
    """An append-only list of steps, optionally echoed as they happen."""

    def __init__(self, echo=None):
        self.steps: list[Step] = []
        self._counter = itertools.count()
        self._t0 = time.monotonic()
        self.echo = echo

    def step(self, kind: str, what: str, **data) -> Step:
        s = Step(next(self._counter), round(time.monotonic() - self._t0, 6),
                 kind, what, data)
        self.steps.append(s)
        if self.echo is not None:
            self.echo(s)
        return s

    def of_kind(self, kind: str) -> list[Step]:
        return [s for s in self.steps if s.kind == kind]

    def as_list(self) -> list[dict]:
        return [s.as_dict() for s in self.steps]
