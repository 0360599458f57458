"""The step checker's direct reads (``compute_nodes`` and ``migrations``
in one query each, for the explorer's speed) see what Nova's objects see,
and a row changed behind Nova's back still fails the checks."""
from __future__ import annotations

import pytest

from harness.oracle import stepchecks
from harness.world.ops import Client, Op


@pytest.fixture
def driven():
    from harness.world.deployment import World
    world = World()
    world.setUp()
    try:
        client = Client(world)
        world.create_flavor("small", vcpus=1, memory_mb=512, root_gb=10)
        world.create_flavor("big", vcpus=2, memory_mb=1024, root_gb=20)
        for op in (Op("boot", {"name": "a", "flavor": "small",
                               "host": "src"}),
                   Op("boot", {"name": "b", "flavor": "small",
                               "host": "dst"}),
                   Op("move", {"name": "a", "dest": "dst",
                               "until": "finished"}),
                   Op("move", {"name": "b", "dest": "bystander",
                               "flavor": "big", "until": "migrating"})):
            assert client.perform(op).type == "ok", op
        yield world, client
    finally:
        world.cleanUp()


def _through_objects(world, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(stepchecks, "_nova_engine", lambda w: None)
        return stepchecks._compute_rows(world), stepchecks._migrations(world)


def test_direct_reads_equal_the_objects(driven, monkeypatch):
    world, _ = driven
    assert stepchecks._nova_engine(world) is not None  # the direct path
    rows, migrations = stepchecks._compute_rows(world), \
        stepchecks._migrations(world)
    assert len(rows) == 3 and len(migrations) == 2
    assert (rows, sorted(migrations)) == (lambda r, m: (r, sorted(m)))(
        *_through_objects(world, monkeypatch))


def _execute(world, sql):
    import sqlalchemy
    engine = stepchecks._nova_engine(world)
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text(sql))


@pytest.mark.parametrize("sql, expected", [
    ("UPDATE compute_nodes SET memory_mb_used = memory_mb_used + 256 "
     "WHERE host = 'src'", {("usage_agrees", "db src memory_mb_used")}),
    ("UPDATE migrations SET status = 'migrating' WHERE status = "
     "'finished'", {("migration_lifecycle", "status went back"),
                    ("migration_lifecycle",
                     "the ledger recorded another status")}),
])
def test_a_row_changed_behind_novas_back_fails(driven, sql, expected):
    world, client = driven
    checker = stepchecks.StepChecker()
    done = client.perform(Op("audit", {}))
    assert checker(world, done, client) == []
    _execute(world, sql)
    found = checker(world, done, client)
    assert expected <= ({(v.invariant, v.subject) for v in found}
                        | {(v.invariant, v.detail) for v in found})
