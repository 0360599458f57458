"""Faults: each a fixture that injects one thing at a boundary and undoes it.

Every fault states its parameters (``describe()``) so a verdict's evidence
can say exactly what was injected, and records in the world's trace when it
fired.  Boundaries: DB records (:mod:`.records`), the placement HTTP path
(:mod:`.placement`), the virt driver and monitors (:mod:`.driver`); the
conductor scenarios' faults (:mod:`.conductor`) and a tracker method
replaced by report 001's code (:mod:`.replacement`).
"""
from harness.faults.base import (  # noqa: F401
    Fault, Combined, EngineRefused, NotApplicable)
from harness.faults import nemesis  # noqa: F401,E402 - plugs in
