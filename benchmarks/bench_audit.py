"""(b) One periodic audit on a host with 10, 100 and 1000 instances.

``ResourceTracker.update_available_resource`` on host ``src``, whose
instances were made by :mod:`populate` (a few booted and resized through the
real path, leaving in-progress migrations; the rest bulk-created records
with their placement allocations).  Before timing, the audit's result is
checked against what the population implies, so the benchmark measures a
correct audit.

Nova's audit asks placement for every consumer's allocations one by one
(``get_allocations_for_provider_tree`` -> ``GET /allocations/{consumer}``
per instance), so its cost grows linearly with the instances on the node.
"""
from __future__ import annotations

import pytest

import populate

SIZES = (10, 100, 1000)
ROUNDS = {10: 20, 100: 8, 1000: 3}


@pytest.fixture(scope="module", params=SIZES, ids=lambda n: "%d-instances" % n)
def populated(request):
    n = request.param
    migrations = max(2, n // 100)
    w = populate.populated_world(n, migrations)
    yield n, migrations, w
    w.cleanUp()


def test_periodic_audit(benchmark, populated):
    n, migrations, w = populated
    src = w.hosts["src"]
    calls_before = len(w.placement.calls)
    src.rt.update_available_resource(w.ctx, src.nodename)
    cn = src.rt.compute_nodes[src.nodename]
    expected = populate.expected_src_usage(n, migrations)
    assert {k: getattr(cn, k) for k in expected} == expected
    per_audit = len(w.placement.calls) - calls_before
    benchmark.extra_info.update(instances=n, migrations=migrations,
                                placement_calls_per_audit=per_audit)
    benchmark.pedantic(src.rt.update_available_resource,
                       args=(w.ctx, src.nodename), rounds=ROUNDS[n],
                       warmup_rounds=1, iterations=1)
