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


def test_a_callers_pump_waits_for_its_messages_another_caller_delivers():
    """Two callers drive one world at once (000-8's builders): one caller's
    pump took the other's cast and is still delivering it.  The other
    caller's pump must not return before its cast was handled, or it reads
    a state half-way through its own request (a delete not yet done)."""
    import threading
    import types

    from harness.world.bus import Bus, _Listener

    bus = Bus()
    entered, go, handled = (threading.Event() for _ in range(3))

    def on_incoming(batch):
        entered.set()
        assert go.wait(10)
        handled.set()

    _Listener(bus, "compute", None, None).start(on_incoming)
    target = types.SimpleNamespace(topic="compute", server=None,
                                   fanout=False, exchange=None)
    returned = threading.Event()

    def caller_a():
        bus.send(target, {}, {"method": "terminate_instance", "args": {}})
        entered.wait(10)          # caller B's pump took it
        bus.pump()
        returned.set()

    def caller_b():
        while not bus.pending:
            pass
        bus.pump()

    a = threading.Thread(target=caller_a)
    b = threading.Thread(target=caller_b)
    a.start()
    b.start()
    assert entered.wait(10)
    # B is inside A's cast: A's pump found the queue empty, and waits
    assert not returned.wait(0.3)
    assert not handled.is_set()
    go.set()
    assert returned.wait(10)
    assert handled.is_set()
    a.join(10)
    b.join(10)
    assert bus.quiet and not bus._outstanding


def test_a_pump_inside_a_delivery_never_waits_for_its_own_chain():
    """A handler's own pump (a cast sent while handling a cast) returns at
    once: it would otherwise wait for the delivery it is inside."""
    import types

    from harness.world.bus import Bus, _Listener

    bus = Bus()
    target = types.SimpleNamespace(topic="compute", server=None,
                                   fanout=False, exchange=None)
    seen = []

    def on_incoming(batch):
        method = batch[0].message["method"]
        seen.append(method)
        if method == "first":
            bus.send(target, {}, {"method": "second", "args": {}})
            bus.pump(wait=30)

    _Listener(bus, "compute", None, None).start(on_incoming)
    bus.send(target, {}, {"method": "first", "args": {}})
    import time
    started = time.monotonic()
    assert bus.pump(wait=30) == 1
    assert time.monotonic() - started < 5
    assert seen == ["first", "second"]
    assert bus.quiet and not bus._outstanding
