"""Examples from forked copies of one template world: every copy starts
from the template's state, nothing a copy does reaches the template or the
next copy, the results are those of a fresh world, and an old template is
rebuilt."""
from __future__ import annotations

import pytest

from harness.explore import forked
from harness.world.ops import Op

OPS = [Op("create_flavor", {"name": "small", "vcpus": 1, "memory_mb": 512,
                            "root_gb": 10}),
       Op("boot", {"name": "a", "flavor": "small", "host": "src"}),
       Op("move", {"name": "a", "dest": "dst", "until": "finished"}),
       Op("revert", {"name": "a"}),
       Op("boot", {"name": "b", "flavor": "small", "host": "nowhere"}),  # refused
       Op("audit", {})]


def _run(session):
    """(type, violations, ledger view) after each operation; a boot's value
    (a random uuid) left out."""
    out = []
    try:
        for op in OPS:
            done, result = session.step(op)
            out.append((done.type, [str(v) for v in result.violations],
                        sorted((n, r.host, r.deleted) for n, r in
                               session.ledger.instances.items()),
                        None if op.f == "boot" else done.value))
    finally:
        session.close()
    return out


@pytest.fixture
def template():
    with forked.Template() as t:
        if t.world is None:
            pytest.skip("cannot fork here: %s" % t.reason)
        yield t


def test_copies_start_alike_and_leave_the_template_alone(template):
    before = dict(template.world.ledger.instances)
    first = _run(template.session())
    second = _run(template.session())
    assert first == second
    assert [t for t, *_ in first] == ["ok", "ok", "ok", "ok", "fail", "ok"]
    assert template.world.ledger.instances == before == {}
    assert template.forks == 2


def test_a_copy_does_what_a_fresh_world_does(template):
    copied = _run(template.session())
    template.close()       # one world at a time in this process
    assert _run(forked.LocalSession()) == copied


def test_an_old_template_is_rebuilt(template, monkeypatch):
    assert template.builds == 1
    monkeypatch.setattr(forked, "MAX_AGE", 0.0)
    template.session().close()
    assert template.builds == 2 and template.world is not None
