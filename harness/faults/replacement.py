"""A tracker method replaced by a candidate's code (report 001).

:class:`ReplaceMethod` swaps ``ResourceTracker.<method>`` for a
:class:`Candidate` (code :mod:`harness.verdicts.replacement` loads at run
time from the report) while it is set up, and restores the class on
clean-up.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Callable

from harness.faults import base
from harness.faults.base import Fault


@dataclasses.dataclass
class Candidate:
    """A proposed replacement for one of the tracker's methods, loaded
    from the reviewer's file
    (:func:`harness.verdicts.replacement.load_candidate`)."""
    path: str
    method_name: str
    source: str               # the code that was executed
    function: Callable
    origin: str               # "python file" / "fenced block N" / ...
    undefined_names: list[str]
    missing_self_attributes: list[str]
    extra_globals: dict = dataclasses.field(default_factory=dict)
    extra_attributes: dict = dataclasses.field(default_factory=dict)

    def findings(self) -> list[str]:
        out = []
        if self.extra_globals or self.extra_attributes:
            out.append("supplied to it: %s" % ", ".join(
                sorted(self.extra_globals) + ["self.%s" % a for a in
                                              sorted(self.extra_attributes)]))
        if self.undefined_names:
            out.append("names it uses that the tracker's module does not "
                       "define: %s" % ", ".join(self.undefined_names))
        if self.missing_self_attributes:
            out.append("attributes it reads from self that ResourceTracker "
                       "does not have: %s"
                       % ", ".join(self.missing_self_attributes))
        return out


class ReplaceMethod(Fault):
    """The tracker class's ``method_name`` is the candidate while active
    (every tracker in the process; the world has one per host)."""
    authority = base.NONE
    reach = "only a deployment that adopted the report's code"

    def __init__(self, world, candidate: Candidate):
        super().__init__(world)
        self.candidate = candidate

    def describe(self):
        extra = ""
        if self.candidate.extra_globals or self.candidate.extra_attributes:
            extra = ", with %s supplied" % ", ".join(
                sorted(self.candidate.extra_globals)
                + ["self.%s" % a for a in
                   sorted(self.candidate.extra_attributes)])
        return "ResourceTracker.%s replaced by the candidate from %s (%s%s)" \
            % (self.candidate.method_name,
               os.path.basename(self.candidate.path), self.candidate.origin,
               extra)

    def inject(self):
        from harness.world import novaenv
        novaenv.load()
        from nova.compute import resource_tracker
        cls = resource_tracker.ResourceTracker
        name = self.candidate.method_name
        if not hasattr(cls, name):
            raise AttributeError("ResourceTracker has no method %s" % name)
        for attr, value in self.candidate.extra_attributes.items():
            self.addCleanup(self._restore, cls, attr, cls.__dict__.get(attr))
            setattr(cls, attr, value)
        own = cls.__dict__.get(name)
        setattr(cls, name, self.candidate.function)
        self.addCleanup(self._restore, cls, name, own)

    @staticmethod
    def _restore(cls, name, own):
        if own is None:
            delattr(cls, name)
        else:
            setattr(cls, name, own)
