"""What the conductor's migration code writes to the logs: claim 002-1.

Every trial of the allocation-swap fault space (see
:mod:`harness.world.conductor_workloads`, shared with the 002-2 scenarios) runs
with canary secrets planted in the configuration (service passwords in
``[placement]``, ``[neutron]``, ``[service_user]`` and
``[keystone_authtoken]``, the memcache secret key, ``transport_url`` and
``[database]``/``[api_database]`` connection strings with passwords) and a
canary token in the conductor's request context, and keeps every log record
of every level from every logger for the whole trial (world set-up
included), as text and as oslo.log's ContextFormatter would write it.

Two readings of the claim are judged separately:

* literal: the helpers' error records name hosts and nodes (a record of
  level ERROR or above from ``nova.conductor.tasks.migrate`` containing a
  host or node name of the world, matched as a whole word);
* leak: any record contains a planted secret, or something shaped like an
  unmasked credential (``password=...``, ``scheme://user:pass@``, an auth
  token header).

The inventory of identifying data (host, node, instance, migration and
provider uuids) by level and logger is recorded in the verdict's stats.
"""
from __future__ import annotations

import dataclasses

import pytest

from harness.world import conductor as hc
from harness.oracle import conductor_invariants as ci
from harness.world import conductor_workloads as cw
from harness.verdicts.judge import Observation, STAGES

HELPERS_LOGGER = "nova.conductor.tasks.migrate"


def _derived(o, under_fault, name=None, control=None):
    violations = {stage: [] for stage in STAGES}
    violations["under_fault"] = under_fault
    return Observation(trial=name or o.trial,
                       control=o.control if control is None else control,
                       fault=o.fault, violations=violations, logs=o.logs,
                       error=o.error, placement_calls=o.placement_calls,
                       trace=o.trace, duration=o.duration)


def _inventory(observations, kinds=None):
    table: dict = {}
    for o in observations:
        idents = {k: v for k, v in o.identifiers.items()
                  if kinds is None or k in kinds}
        for row, counts in ci.identifier_inventory(o.lines, idents).items():
            agg = table.setdefault(row, {})
            for kind, n in counts.items():
                agg[kind] = agg.get(kind, 0) + n
    return dict(sorted(table.items()))


def _space(observations):
    return ("the %d trials of the allocation-swap fault space (%s), "
            "every log record of each whole trial"
            % (len(observations), cw.fault_space_summary(observations)))


@pytest.mark.claims("002-1")
def test_conductor_error_logs_name_hosts(judge):
    """The helpers' error records name the source host and node."""
    observations, traces = cw.allocation_observations()
    judge.traces.update(traces)
    for o in observations:
        hosts = {k: o.identifiers.get(k, []) for k in ("host", "node")}
        judge.observations.append(_derived(o, ci.error_logs_name_hosts(
            [(lv, ln, lg, t.split("\n")[0]) for lv, ln, lg, t in o.lines],
            hosts, loggers=(HELPERS_LOGGER,))))
    judge.decide(
        hypothesis="Literal reading: when the allocation swap or its "
                   "revert fails, the records of level ERROR or above that "
                   "nova.conductor.tasks.migrate writes contain the "
                   "source host and node names (no such record without a "
                   "fault). Host and node names are operator-visible "
                   "identifiers, not secrets; the leak reading is judged "
                   "by test_conductor_logs_leak_secrets.",
        predicts={"under_fault": ("error_logs_name_hosts",)},
        fault_space=_space(observations))
    judge.outcome.stats["identifiers_by_level_and_logger"] = _inventory(
        observations)


@pytest.mark.claims("002-1")
def test_conductor_logs_leak_secrets(judge):
    """No log record of any level contains a planted secret or an
    unmasked credential."""
    observations, traces = cw.allocation_observations()
    judge.traces.update(traces)
    secrets = hc.canary_secrets()
    # The control checks the oracle: the same lines scanned for decoys
    # that were never planted anywhere must match nothing.
    decoys = {where: "dEcOy-%s-never-planted" % i
              for i, where in enumerate(sorted(secrets))}
    lines = [(ln, lg, t) for o in observations for _lv, ln, lg, t in o.lines]
    calibration = ci.secrets_absent(lines, decoys)
    first = observations[0]
    judge.observations.append(_derived(
        first, calibration, control=True,
        name="scanner calibration: %d decoy secrets (never planted) over "
             "all %d lines of the %d trials" % (len(decoys), len(lines),
                                               len(observations))))
    for o in observations:
        scanned = [(ln, lg, t) for _lv, ln, lg, t in o.lines]
        judge.observations.append(dataclasses.replace(
            _derived(o, ci.secrets_absent(scanned, secrets)
                     + ci.credentials_absent(scanned)),
            control=False))
    judge.decide(
        hypothesis="Leak reading: during the migration code's normal and "
                   "failing runs, some log record (any level, any logger, "
                   "as text or as oslo.log would format it, exception "
                   "traces included) contains a planted secret (%s) or an "
                   "unmasked credential." % ", ".join(sorted(secrets)),
        predicts={"under_fault": ("secrets_absent", "credentials_absent")},
        fault_space=_space(observations))
    judge.outcome.stats["lines_scanned"] = len(lines)
