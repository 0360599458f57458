"""What the conductor's migration code writes to the logs: claim 002-1.

Every trial of the allocation fault space (see
:mod:`harness.verdicts.conductor_workloads`, shared with the 002-2
scenarios: resizes and cold migrations through the REST API, carried out by
Nova's own API, conductor, scheduler and computes) runs with canary secrets
planted in the configuration (service passwords in ``[placement]``,
``[neutron]``, ``[service_user]`` and ``[keystone_authtoken]``, the
memcache secret key, ``transport_url`` and ``[database]``/``[api_database]``
connection strings with passwords) and a canary token carried by every API
request (so in the request context every service gets over the bus), and
keeps every log record of every level from every logger of every service
for the whole trial (world set-up included), as text and as oslo.log's
ContextFormatter would write it.

The claim's proposition (catalogue) is a leak: a secret reaching the logs
through the helpers.  Two scenarios judge it:

* leak: any record contains a planted secret, or something shaped like an
  unmasked credential (``password=...``, ``scheme://user:pass@``, an auth
  token header);
* host and node names: the helpers' error records (level ERROR or above
  from ``nova.conductor.tasks.migrate``) do name the source host and node,
  a fact the claim mentions.  It counts as harm only where such a name
  appears in no ordinary line (INFO/DEBUG from Nova's own loggers) of the
  same trial, i.e. where the error line tells a log reader something new.
  The number of ordinary lines naming each host and node is counted from
  the same captured records and reported.

The inventory of identifying data (host, node, instance, migration and
provider uuids) by level and logger is recorded in the verdict's stats.
"""
from __future__ import annotations

import dataclasses

import pytest

from harness.world import conductor as wc
from harness.oracle import conductor_invariants as ci
from harness.verdicts.judge import Observation, STAGES

from test_conductor_allocations import SPACE, allocation_trials

HELPERS_LOGGER = "nova.conductor.tasks.migrate"


def _derived(o, under_fault, name=None, control=None):
    """``o`` judged by a log check instead of its own invariants: the
    fault's class, reach, the traced paths and what the operation saw are
    kept (a replay is not: a log scan has no counterfactual)."""
    violations = {stage: [] for stage in STAGES}
    violations["under_fault"] = under_fault
    return Observation(trial=name or o.trial,
                       control=o.control if control is None else control,
                       fault=o.fault, violations=violations, logs=o.logs,
                       error=o.error, placement_calls=o.placement_calls,
                       trace=o.trace, duration=o.duration,
                       authority=o.authority, reach=o.reach,
                       paths=dict(o.paths), rep=o.rep, detail=o.detail)


def _lines(o) -> list:
    return o.detail.lines if o.detail else []


def _hosts(o) -> dict:
    ids = o.detail.identifiers if o.detail else {}
    return {k: ids.get(k, []) for k in ("host", "node")}


def _ordinary_counts(observations) -> dict:
    """Per host/node: the trials whose helpers' error lines name it, and
    how many ordinary (INFO/DEBUG, nova.*) lines of those same trials name
    it too."""
    table: dict = {}
    for o in observations:
        named = ci.error_logs_name_hosts(
            [(lv, ln, lg, t.split("\n")[0]) for lv, ln, lg, t in _lines(o)],
            _hosts(o), loggers=(HELPERS_LOGGER,))
        if not named:
            continue
        idents = sorted({i.split(" ", 1)[1] for v in named
                         for i in v.actual})
        counts = ci.ordinary_lines_naming(_lines(o), idents)
        for ident in idents:
            row = table.setdefault(ident, {"trials_with_error_lines": 0,
                                           "error_lines": 0,
                                           "ordinary_lines": 0,
                                           "fewest_ordinary_in_a_trial":
                                               None})
            row["trials_with_error_lines"] += 1
            row["error_lines"] += sum(
                1 for v in named if any(i.endswith(" " + ident)
                                        for i in v.actual))
            row["ordinary_lines"] += counts[ident]
            low = row["fewest_ordinary_in_a_trial"]
            row["fewest_ordinary_in_a_trial"] = counts[ident] if \
                low is None else min(low, counts[ident])
    return table


def _inventory(observations, kinds=None):
    table: dict = {}
    for o in observations:
        idents = {k: v for k, v in (o.detail.identifiers if o.detail
                                    else {}).items()
                  if kinds is None or k in kinds}
        for row, counts in ci.identifier_inventory(_lines(o),
                                                   idents).items():
            agg = table.setdefault(row, {})
            for kind, n in counts.items():
                agg[kind] = agg.get(kind, 0) + n
    return dict(sorted(table.items()))


LOG_SPACE = ("the allocation-swap fault space (%s); every log record of "
             "each whole trial" % SPACE)


@pytest.mark.claims("002-1")
def test_conductor_error_logs_name_hosts(judge):
    """The helpers' error records name the source host and node; that is
    harm only if no ordinary line of the same run already names them."""
    observations, traces = judge.shared(allocation_trials)
    judge.traces.update(traces)
    for o in observations:
        judge.observations.append(_derived(o, ci.error_logs_reveal_nothing_new(
            [(lv, ln, lg, t.split("\n")[0]) for lv, ln, lg, t in _lines(o)],
            _hosts(o), loggers=(HELPERS_LOGGER,))))
    judge.decide(
        hypothesis="When the allocation swap or its revert fails, the "
                   "records of level ERROR or above that "
                   "nova.conductor.tasks.migrate writes name a host or "
                   "node that no INFO or DEBUG record of Nova's own "
                   "loggers in the same run names: the error line reveals "
                   "a deployment detail a log reader could not otherwise "
                   "learn. (That the error lines name the source host and "
                   "node at all is a fact the claim mentions, counted in "
                   "the stats, not its harm.)",
        predicts={"under_fault": ("error_logs_reveal_nothing_new",)},
        fault_space=LOG_SPACE)
    judge.outcome.stats["error_lines_and_ordinary_lines_by_name"] = \
        _ordinary_counts(observations)
    judge.outcome.stats["identifiers_by_level_and_logger"] = _inventory(
        observations)


@pytest.mark.claims("002-1")
def test_conductor_logs_leak_secrets(judge):
    """No log record of any level contains a planted secret or an
    unmasked credential."""
    observations, traces = judge.shared(allocation_trials)
    judge.traces.update(traces)
    secrets = wc.canary_secrets()
    # The control checks the oracle: the same lines scanned for decoys
    # that were never planted anywhere must match nothing.
    decoys = {where: "dEcOy-%s-never-planted" % i
              for i, where in enumerate(sorted(secrets))}
    lines = [(ln, lg, t) for o in observations
             for _lv, ln, lg, t in _lines(o)]
    calibration = ci.secrets_absent(lines, decoys)
    first = observations[0]
    judge.observations.append(_derived(
        first, calibration, control=True,
        name="scanner calibration: %d decoy secrets (never planted) over "
             "all %d lines of the %d trials" % (len(decoys), len(lines),
                                               len(observations))))
    for o in observations:
        scanned = [(ln, lg, t) for _lv, ln, lg, t in _lines(o)]
        judge.observations.append(dataclasses.replace(
            _derived(o, ci.secrets_absent(scanned, secrets)
                     + ci.credentials_absent(scanned)),
            control=False, authority=o.authority or "none",
            reach=o.reach or "ordinary operation (no fault)"))
    judge.decide(
        hypothesis="Leak reading: during the migration code's normal and "
                   "failing runs, some log record (any level, any logger, "
                   "as text or as oslo.log would format it, exception "
                   "traces included) contains a planted secret (%s) or an "
                   "unmasked credential." % ", ".join(sorted(secrets)),
        predicts={"under_fault": ("secrets_absent", "credentials_absent")},
        fault_space=LOG_SPACE)
    judge.outcome.stats["lines_scanned"] = len(lines)
