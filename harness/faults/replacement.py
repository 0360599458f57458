"""A tracker method replaced by a candidate's code (report 001).

:class:`ReplaceMethod` swaps ``ResourceTracker.<method>`` for a
:class:`~harness.verdicts.replacement.Candidate` (code loaded at run time
from the report) while it is set up, and restores the class on clean-up.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

from harness.faults import base
from harness.faults.base import Fault

if TYPE_CHECKING:  # pragma: no cover
    from harness.verdicts.replacement import Candidate


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
