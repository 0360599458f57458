"""The world's message bus reaches Nova, and its faults do what they say.

Each bus fault (:mod:`harness.faults.bus`) is shown changing what Nova's
services do through a real operation, and undoing itself; a service's own
clock is shown stamping the records that service writes, and only those.
"""
from __future__ import annotations

import datetime

import pytest

from harness.faults import bus as bfaults
from harness.world import moves


def test_the_bus_delivers_every_service_step_of_an_operation(booted):
    w = booted
    start = len(w.bus.log)
    w.resize("vm1", "big", "dst")
    delivered = [m.method for what, m in w.bus.log[start:]
                 if what == "delivered"]
    for step in ("migrate_server", "select_destinations", "prep_resize",
                 "resize_instance", "finish_resize"):
        assert step in delivered, delivered
    assert w.bus.quiet and not w.bus.held


def test_a_call_nobody_answers_times_out_as_on_a_real_bus(booted):
    import oslo_messaging
    from harness.world.bus import Rule
    w = booted
    rule = w.bus.add_rule(Rule(method="select_destinations",
                               action="drop"))
    try:
        w.resize("vm1", "big", "dst")
    except Exception:   # noqa: BLE001 - the operation fails, as in Nova
        pass
    finally:
        w.bus.remove_rule(rule)
    assert rule.matched
    assert any(what == "dropped" and m.call for what, m in w.bus.log)
    # the conductor got MessagingTimeout from its call and failed the move
    assert w.instance("vm1").host == "src"
    assert oslo_messaging.MessagingTimeout


def test_a_dropped_cast_stops_the_move_where_it_was_lost(booted):
    w = booted
    with bfaults.MessageDropped(w, "finish_resize") as fault:
        with pytest.raises(Exception):
            w.resize("vm1", "big", "dst")
    assert fault.fired == 1
    assert w.latest_migration("vm1").status == "post-migrating"
    assert fault.describe() == "bus: drop finish_resize"


def test_a_duplicated_cast_is_delivered_twice(booted):
    """(A redelivered confirm_resize: Nova's second handling of it fails
    and puts the server in ERROR - what Nova does with it is Nova's.)"""
    w = booted
    w.resize("vm1", "big", "dst")
    start = len(w.bus.log)
    with bfaults.MessageDuplicated(w, "confirm_resize", times=1) as fault:
        try:
            w.confirm("vm1")
        except Exception:   # noqa: BLE001 - the redelivery's outcome
            pass
    assert fault.fired == 1
    delivered = [m.method for what, m in w.bus.log[start:]
                 if what == "delivered"]
    assert delivered.count("confirm_resize") == 2


def test_a_held_message_arrives_after_what_happened_meanwhile(booted):
    """The move's next step held, the server deleted, the step delivered
    when the fault clears: it meets a deleted server (Nova cleans up)."""
    w = booted
    fault = bfaults.MessageHeld(w, "resize_instance", instance="vm1")
    fault.setUp()
    with pytest.raises(Exception):
        moves.cold_move(w, "vm1", "big", "dst", until="migrating")
    uuid = w.instances["vm1"].uuid
    assert w.latest_migration("vm1").status == "pre-migrating"
    w.user_api.delete_server(uuid)
    w.settle()
    fault.cleanUp()
    assert fault.fired == 1
    assert not w.bus.held
    assert any(what == "released" and m.method == "resize_instance"
               for what, m in w.bus.log)
    # resize_instance met a deleted server: its error handling gave the
    # migration's allocation back to the (deleted) server, and the
    # source's audit removes what a deleted server holds
    w.audit("src", via="service")
    snap = w.snapshot()
    assert uuid not in snap.allocations


def test_a_delayed_cast_waits_for_the_next_operation(booted):
    w = booted
    with bfaults.MessageDelayed(w, "build_and_run_instance") as fault:
        with pytest.raises(Exception):
            w.boot("vm2", "small", "dst")
        assert fault.fired == 1 and w.bus.deferred
    # cleared: delivered now, the server is built
    assert not w.bus.deferred
    assert w.server("vm2")["status"] == "ACTIVE"


def test_a_service_clock_stamps_only_what_that_service_writes(booted):
    """The conductor creates the migration record (its clock stamps
    created_at); the computes save its later statuses (theirs stamp
    updated_at)."""
    w = booted
    with bfaults.ServiceClock(w, "conductor", 3600) as fault:
        w.resize("vm1", "big", "dst")
    assert fault.fired > 0
    m = w.migration("vm1")
    ahead = (m.created_at - m.updated_at).total_seconds()
    assert 3500 < ahead <= 3600
    assert fault.describe() == "clock of conductor +3600s (frozen)"
    from oslo_utils import timeutils
    assert abs(timeutils.utcnow() - datetime.datetime.utcnow()) < \
        datetime.timedelta(seconds=5)
