"""Report 001's replacement code for the migration accounting: claim 001-code.

Report 001 proposes new code for
``ResourceTracker._update_usage_from_migration``.  The code is read at run
time from the report itself (``../shared/reviews/001_*.txt`` relative to
this repository; nothing of it is copied here) by
:func:`harness.verdicts.replacement.evaluate`, swapped in for the real method at the
class boundary, and run through the migration family: the move shapes of
:data:`harness.world.workloads.MOVES` on their own, and a few of the
migration-record faults of ``scenarios/test_migration_records.py`` on two
of them.  Only what the candidate breaks and the real method (same move,
same fault) keeps counts as evidence.

If the report file is absent (a clone without ``shared/`` beside it), the
scenarios are skipped with that reason: no verdict, no drift, and the claim
is listed as NOT_JUDGED saying why (NOT_TESTABLE would claim there is
nothing to observe; INCONCLUSIVE would fail every such run).  Set
``HARNESS_REVIEWS`` to point at the reviews elsewhere.
"""
from __future__ import annotations

import glob
import os

import pytest

from harness.verdicts import replacement
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REVIEWS = os.environ.get("HARNESS_REVIEWS") or os.path.normpath(
    os.path.join(ROOT, os.pardir, "shared", "reviews"))
METHOD = "_update_usage_from_migration"
# incoming, outgoing, same-node before and after finish, live
MOVES = ("resize-incoming", "resize-finished", "same-node-claimed",
         "same-node-finished", "live-running")
FAULTED_MOVES = ("resize-incoming", "resize-finished")
FAULTS = ("status=error", "context stale", "new_flavor_id=absent")


def report_path() -> str:
    """Report 001's file; skips the scenario when it is not available."""
    found = sorted(glob.glob(os.path.join(REVIEWS, "001_*.txt")))
    if not found:
        pytest.skip("report 001 is not available (no 001_*.txt in %s); its "
                    "proposed code cannot be evaluated here. Put the "
                    "reviews at ../shared/reviews or set HARNESS_REVIEWS"
                    % REVIEWS)
    return found[0]


@pytest.mark.claims("001-code")
def test_report_replacement_breaks_migration_accounting(judge):
    """The proposed method, swapped in, keeps what the real method keeps."""
    every = replacement.record_faults()
    replacement.evaluate(
        report_path(), METHOD, moves=MOVES,
        faults={name: every[name] for name in FAULTS},
        faulted_moves=FAULTED_MOVES, judge=judge)


def _older_nova_helpers():
    """What the proposal names from an older Nova (it was written against
    one): the module helper that said which migration types the tracker
    follows (resizes, cold migrations and evacuations, not live
    migrations), the flavor lookup under its former name, and the
    exception without its module prefix."""
    from harness.world import novaenv
    novaenv.load()
    from nova import exception
    from nova.compute import resource_tracker

    def is_trackable(migration):
        return migration.migration_type in ("resize", "migration",
                                            "evacuation")
    return ({"_is_trackable_migration": is_trackable,
             "FlavorNotFound": exception.FlavorNotFound},
            {"_get_instance_type":
             resource_tracker.ResourceTracker._get_flavor})


@pytest.mark.claims("001-code")
def test_report_replacement_with_its_era_helpers_breaks_accounting(judge):
    """Given the older helpers it names, the proposal's own logic is judged."""
    names, attributes = _older_nova_helpers()
    replacement.evaluate(
        report_path(), METHOD, moves=MOVES, faults={},
        faulted_moves=(), judge=judge, extra_globals=names,
        extra_attributes=attributes)
