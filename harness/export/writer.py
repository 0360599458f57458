"""A chosen trial (:mod:`.choose`) written as a Nova functional test.

Every call the world recorded becomes the same request through Nova's REST
API, a stall becomes the same held RPC cast or blocked fake-driver call,
a fault the same write or patch, an audit the same periodic call, and the
values the harness observed where it judged the finding become assertions
of today's behaviour.
"""
from __future__ import annotations

import datetime
import keyword
import pprint
import re
import textwrap

from harness.export import boundary
from harness.export.choose import Chosen, ExportError

# vm_state (and a move in progress) -> the API's status to wait for
STATUS = {"active": "ACTIVE", "resized": "VERIFY_RESIZE",
          "stopped": "SHUTOFF", "shelved": "SHELVED",
          "shelved_offloaded": "SHELVED_OFFLOADED", "error": "ERROR"}
COLD_HOLDS = {"pre-migrating": "resize_instance",
              "post-migrating": "finish_resize"}


def _slug(text: str) -> str:
    words = re.findall(r"[a-z0-9]+", text.lower())
    slug = "_".join(words)[:70].rstrip("_")
    return slug if not keyword.iskeyword(slug) else slug + "_"


def _q(value) -> str:
    return repr(value)


class _Body:
    """The test method's lines, with the stops in force per server."""

    def __init__(self, chosen: Chosen):
        self.c = chosen
        self.lines: list[str] = []
        self.stops: dict[str, tuple] = {}    # server -> (kind, what, host)
        self.flavor_specs: dict[str, dict] = {}
        self.db_write = False
        self.clock = False
        self.nodes = chosen.nodenames

    def emit(self, line: str = "", *more):
        self.lines.append(line)
        self.lines.extend(more)

    def comment(self, text: str):
        for part in textwrap.wrap(text, 70):
            self.emit("# " + part)

    # -- one recorded call at a time -----------------------------------
    def call(self, call):
        handler = getattr(self, "do_" + call.verb, None)
        if handler is None:
            raise ExportError("export cannot write the operation %s yet"
                              % call)
        handler(call, **call.args)

    def after(self, call, name):
        """Wait for what the operation left (recorded by the harness)."""
        after = call.after or {}
        if after.get("deleted"):
            self.emit("self._wait_until_deleted(%s)" % self.server(name))
            return
        if after.get("migration") and call.verb not in ("boot",
                                                        "create_flavor"):
            self.emit("self._wait_migration(%s, %s)" % (
                self.server(name), _q(after["migration"])))
        if after.get("task_state") is None and after.get("vm_state") in \
                STATUS:
            self.emit("self._wait_for_state_change(%s, %s)" % (
                self.server(name), _q(STATUS[after["vm_state"]])))

    @staticmethod
    def server(name):
        return "self.servers[%s]" % _q(name)

    def do_create_flavor(self, call, name, vcpus=1, memory_mb=512,
                         root_gb=10, ephemeral_gb=0, swap=0,
                         extra_specs=None):
        self.emit("self.flavors[%s] = self._create_flavor(name=%s, vcpu=%d,"
                  " memory_mb=%d, disk=%d, ephemeral=%d, swap=%d%s)" % (
                      _q(name), _q(name), vcpus, memory_mb, root_gb,
                      ephemeral_gb, swap, ", extra_spec=%s" % _q(extra_specs)
                      if extra_specs else ""))

    def do_boot(self, call, name, flavor, host, vm_state="active",
                from_volume=False):
        self.emit("self._prefer(%s)" % _q(host))
        self.emit("self.servers[%s] = self._boot(%s, %s, from_volume=%s)"
                  % (_q(name), _q(name), "self.flavors[%s]" % _q(flavor),
                     from_volume))
        self.after(call, name)
        if self.c.devices:
            self.emit("self.claimed[%s] = self._devices_of(%s)"
                      % (_q(name), self.server(name)))

    def _arm_cold(self, name, until, source):
        if until in COLD_HOLDS:
            self.emit("self._hold(%s)" % _q(COLD_HOLDS[until]))
            self.stops[name] = ("hold", COLD_HOLDS[until], None)
        elif until == "migrating":
            self.emit("gate = self._gate(%s, 'migrate_disk_and_power_off',"
                      " %s)" % (_q(source), self.server(name)))
            self.stops[name] = ("gate", "migrate_disk_and_power_off",
                                source)

    def _wait_stop(self, name):
        kind, what, _host = self.stops[name]
        if kind == "hold":
            self.emit("self._wait_held(%s)" % _q(what))
        else:
            self.emit("self._wait_gate(%s)" % _q(what))

    def _move(self, call, name, flavor, dest, until, fail, verb):
        source = self._host_before(name)
        self.emit("self._prefer(%s)" % _q(dest))
        if fail == "disk":
            self.emit("self._fail_once(%s, 'migrate_disk_and_power_off', "
                      "exception.InstanceFaultRollback(inner_exception="
                      "RuntimeError('the hypervisor failed to copy the "
                      "disk')))" % _q(source))
        elif until != "finished":
            self._arm_cold(name, until, source)
        if verb == "resize":
            self.emit("self.api.post_server_action(%s['id'], {'resize': "
                      "{'flavorRef': self.flavors[%s]}})" % (
                          self.server(name), _q(flavor)))
        else:
            self.emit("self.admin_api.post_server_action(%s['id'], "
                      "{'migrate': {'host': %s}})" % (self.server(name),
                                                       _q(dest)))
        if fail is None and until != "finished":
            self._wait_stop(name)
        self.after(call, name)

    def _host_before(self, name):
        return self.hosts_of.get(name)

    def do_resize(self, call, name, flavor, dest, until="finished",
                  fail=None):
        self._move(call, name, flavor, dest, until, fail, "resize")
        self._landed(name, call)

    def do_migrate(self, call, name, dest, until="finished", fail=None):
        self._move(call, name, None, dest, until, fail, "migrate")
        self._landed(name, call)

    def _landed(self, name, call):
        host = (call.after or {}).get("host")
        if host:
            self.hosts_of[name] = host

    def do_live_migrate(self, call, name, dest, until="running"):
        source = self.hosts_of.get(name)
        if until == "preparing":
            self.emit("gate = self._gate(%s, 'pre_live_migration', %s)" % (
                _q(dest), self.server(name)))
            self.stops[name] = ("gate", "pre_live_migration", dest)
        elif until == "running":
            self.emit("gate = self._gate(%s, 'live_migration', %s)" % (
                _q(source), self.server(name)))
            self.stops[name] = ("gate", "live_migration", source)
        self.emit("self._prefer(%s)" % _q(dest))
        self.emit("self.admin_api.post_server_action(%s['id'], "
                  "{'os-migrateLive': {'host': %s, 'block_migration': "
                  "'auto'}})" % (self.server(name), _q(dest)))
        if until != "completed":
            self._wait_stop(name)
        self.after(call, name)
        self._landed(name, call)

    def do_advance(self, call, name):
        kind, what, host = self.stops.pop(name)
        nxt = {"resize_instance": "migrating",
               "migrate_disk_and_power_off": "post-migrating",
               "finish_resize": "finished",
               "pre_live_migration": "running",
               "live_migration": "completed"}[what]
        if nxt == "running":
            self.emit("gate2 = self._gate(%s, 'live_migration', %s)" % (
                _q(self.hosts_of.get(name)), self.server(name)))
        elif nxt in ("migrating", "post-migrating"):
            self._arm_cold(name, nxt, self.hosts_of.get(name))
        if kind == "hold":
            self.emit("self._release(%s)" % _q(what))
        else:
            self.emit("self._open_gate(%s)" % _q(what))
        if nxt == "running":
            self.stops[name] = ("gate", "live_migration",
                                self.hosts_of.get(name))
        if name in self.stops:
            self._wait_stop(name)
        self.after(call, name)
        self._landed(name, call)

    def do_confirm(self, call, name):
        self.emit("self.api.post_server_action(%s['id'], "
                  "{'confirmResize': None})" % self.server(name))
        self.after(call, name)

    def do_revert(self, call, name):
        self.emit("self.api.post_server_action(%s['id'], "
                  "{'revertResize': None})" % self.server(name))
        self.after(call, name)
        self._landed(name, call)

    def do_delete(self, call, name):
        self.emit("self.api.delete_server(%s['id'])" % self.server(name))
        stop = self.stops.pop(name, None)
        if stop is not None:
            self.comment("the step of the move the test held goes on, "
                         "after the delete")
            self.emit("self._release(%s)" % _q(stop[1]) if stop[0] ==
                      "hold" else "self._open_gate(%s)" % _q(stop[1]))
        self.emit("self._wait_until_deleted(%s)" % self.server(name))

    def do_audit(self, call, host=None, via="tracker"):
        hosts = [host] if host else list(self.c.hosts)
        for h in hosts:
            if h in self.down:
                continue
            self.emit("self._audit(%s, %s)" % (_q(h), _q(via)))

    def do_wait(self, call, seconds):
        self.emit("time.sleep(%s)" % _q(seconds))

    def do_shelve(self, call, name):
        self.emit("self.api.post_server_action(%s['id'], {'shelve': None})"
                  % self.server(name))
        self.after(call, name)

    def do_shelve_offload(self, call, name):
        self.emit("self._shelve_offload_server(%s)" % self.server(name))
        self.hosts_of[name] = None

    def do_unshelve(self, call, name, host, until="active", fail=False):
        self.emit("self._prefer(%s)" % _q(host))
        if fail:
            self.emit("self._fail_once(%s, 'spawn', RuntimeError('the "
                      "hypervisor failed the spawn'))" % _q(host))
        elif until == "spawning":
            self.emit("gate = self._gate(%s, 'spawn', %s)" % (
                _q(host), self.server(name)))
            self.stops[name] = ("gate", "spawn", host)
        self.emit("self.admin_api.post_server_action(%s['id'], "
                  "{'unshelve': {'host': %s}})" % (self.server(name),
                                                   _q(host)))
        if until == "spawning" and not fail:
            self._wait_stop(name)
        self.after(call, name)
        self._landed(name, call)

    def do_finish_unshelve(self, call, name):
        self.stops.pop(name, None)
        self.emit("self._open_gate('spawn')")
        self.after(call, name)

    def do_service_down(self, call, host):
        self.emit("self._service_down(%s)" % _q(host))
        self.down.add(host)

    def do_restart(self, call, host):
        for name, (kind, what, h) in list(self.stops.items()):
            if kind == "gate" and h == host:
                self.comment("the compute service dies with its stalled "
                             "call")
                self.emit("self._kill_gate(%s)" % _q(what))
                del self.stops[name]
        self.emit("self._restart(%s)" % _q(host))
        self.down.discard(host)

    def do_node_unavailable(self, call, host):
        self.emit("self.computes[%s].manager.driver._set_nodes([])"
                  % _q(host))

    def do_node_available(self, call, host):
        self.emit("self.computes[%s].manager.driver._set_nodes([%s])"
                  % (_q(host), _q(self.nodes.get(host, host))))

    def do_evacuate(self, call, name, dest, fail=False):
        if fail:
            self.emit("self._fail_once(%s, 'spawn', RuntimeError('the "
                      "hypervisor failed the rebuild'))" % _q(dest))
        self.emit("self._prefer(%s)" % _q(dest))
        self.emit("self.admin_api.post_server_action(%s['id'], "
                  "{'evacuate': {'host': %s}})" % (self.server(name),
                                                   _q(dest)))
        self.after(call, name)
        self._landed(name, call)

    def do_live_rollback(self, call, name, status="failed"):
        self.stops.pop(name, None)
        if status == "failed":
            self.emit("self._open_gate('live_migration', rollback=True)")
        else:
            self.emit("self._open_gate('live_migration', fail=RuntimeError("
                      "'the hypervisor failed the live migration'))")
        self.after(call, name)

    def do_fault(self, call, fault):
        self.fault_code(fault, start=True)

    def do_fault_cleared(self, call, fault):
        self.fault_code(fault, start=False)

    def do_snapshot(self, call, label):
        pass            # where the harness judged: see assertions()

    # -- faults ----------------------------------------------------------
    def fault_code(self, fault, start: bool):
        kind = type(fault).__name__
        if kind == "ClockSkew":
            self.clock = True
            if start:
                self.comment("the clock that stamps Nova's records, frozen "
                             "%+d s from now (the harness's ClockSkew)"
                             % fault.offset.total_seconds()
                             if hasattr(fault.offset, "total_seconds")
                             else "the clock frozen (ClockSkew %s)"
                             % fault.offset)
                self.emit("timeutils.set_time_override(timeutils.utcnow() "
                          "+ datetime.timedelta(seconds=%r))"
                          % _seconds(fault.offset))
            else:
                self.emit("timeutils.clear_time_override()")
            return
        if kind == "MigrationField":
            self.db_write = True
            if start:
                self.comment("the trigger is a database write, made as the "
                             "harness's fault makes it: %s"
                             % fault.describe())
                self.emit("self._saved_migration = self._write_migration(%s,"
                          " %s)" % (self.server(fault.instance),
                                    _q(_plain(fault.fields))))
            else:
                self.emit("self._write_migration(%s, self._saved_migration)"
                          % self.server(fault.instance))
            return
        if kind == "EmbeddedFlavor":
            self.db_write = True
            if start:
                self.comment("the trigger is a database write, made as the "
                             "harness's fault makes it: %s"
                             % fault.describe())
                self.emit("self._saved_flavor = self._write_flavor(%s, %s,"
                          " %s)" % (self.server(fault.instance),
                                    _q(fault.which), _q(_plain(
                                        fault.changes) if fault.mode ==
                                        "altered" else None)))
            else:
                self.emit("self._restore_flavor(%s, self._saved_flavor)"
                          % self.server(fault.instance))
            return
        if kind == "DriverRaises":
            if start:
                self.emit("self._driver_raises(%s, %s)" % (
                    _q(fault.host), _q(fault.method)))
            else:
                self.emit("self._driver_restored(%s, %s)" % (
                    _q(fault.host), _q(fault.method)))
            return
        if kind == "NodeUnreported":
            node = self.nodes.get(fault.host, fault.host)
            self.emit("self.computes[%s].manager.driver._set_nodes(%s)" % (
                _q(fault.host), "[]" if start else "[%s]" % _q(node)))
            return
        if kind == "InstanceResources":
            self.db_write = True
            if start:
                self.comment("the trigger is a database write, made as the "
                             "harness's fault makes it: %s"
                             % fault.describe())
                value = _q(fault._malformed() if fault.mode == "malformed"
                           else fault.value)
                if fault.mode == "identifier" and any(
                        fault.value in ids
                        for ids in self.c.devices.values()):
                    # a device the host has: one the instance was not
                    # handed (the same one would change nothing)
                    value = "self._other_device(%s)" % _q(fault.instance)
                    self.comment("(here: the device of the host that %s "
                                 "was not handed)" % fault.instance)
                self.emit("self._saved_resources = self._write_resources("
                          "%s, %s, %s)" % (self.server(fault.instance),
                                           _q(fault.mode), value))
            else:
                self.emit("self._restore_resources(%s, "
                          "self._saved_resources)"
                          % self.server(fault.instance))
            return
        raise ExportError("export cannot write the harness's %s fault as "
                          "a Nova test yet (%s)" % (kind, fault.describe()))


def _seconds(offset) -> float:
    if hasattr(offset, "total_seconds"):
        return offset.total_seconds()
    return float(offset)


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


# ---------------------------------------------------------------------------
# the assertions: what the harness observed where it judged the finding
# ---------------------------------------------------------------------------
_USAGE = re.compile(r"^(tracker|db) (\S+) (\w+)$")
_PLACEMENT = re.compile(r"^placement (\S+)$")
_INSTANCE_ALLOC = re.compile(r"^instance (\S+) [0-9a-f-]{36}$")
_INSTANCE_ON = re.compile(r"^instance (\S+) on (\S+)$")
_MIGRATION_ALLOC = re.compile(r"^migration of (\S+) \(.*\) [0-9a-f-]{36}$")
_AUDIT_RAISED = re.compile(r"^tracker audit of (\S+)$")
_AUDIT_LOGGED = re.compile(r"^service audit \((\S+)\)$")
_ROW_STALE = re.compile(r"^compute_nodes row of (\S+) (\w+)$")
# what changes from one run to the next in an exception's text
_UNSTABLE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-|0x[0-9a-f]+|"
                       r"\d{4}-\d\d-\d\d[ T]\d", re.I)


# the snapshot a marker names -> the stage it is judged as
_LABEL_STAGE = {"under fault": "under_fault", "during": "during",
                "after clear": "after_clear"}


def assertions(chosen: Chosen, label: str | None = None) -> list[str]:
    """Lines asserting what the harness saw (today's behaviour), at the
    snapshot ``label`` (only that stage's harm, when the harm spans
    several stages)."""
    out, seen = [], set()
    harm = chosen.harm
    stage = _LABEL_STAGE.get(label or "")
    if stage and any(s == stage for s, _v in harm):
        harm = [(s, v) for s, v in harm if s == stage]
    # one device shared is one violation: assert the pair's count once
    shared = {}
    for _s, v in harm:
        if v.invariant == "devices_not_shared":
            shared.setdefault((v.expected, v.actual), set()).add(v.subject)
    for stage, v in harm:
        key = (v.invariant, v.subject)
        if v.invariant == "devices_not_shared":
            key = (v.invariant, v.expected, v.actual)
        if key in seen:
            continue
        seen.add(key)
        line = _assertion(v, len(shared[(v.expected, v.actual)])
                          if v.invariant == "devices_not_shared" else 1)
        if line is None:
            continue
        out.append("# FIX: %s %s: %s, not %r (%s)" % (
            v.invariant, v.subject, _expected_text(v.expected), v.actual,
            v.detail or stage))
        out.extend([line] if isinstance(line, str) else line)
    if not out:
        raise ExportError("the harness's observations of %s have no form "
                          "a Nova test can assert yet: %s" % (
                              chosen.finding.id, "; ".join(
                                  str(v) for _s, v in chosen.harm[:3])))
    return out


def _expected_text(expected) -> str:
    return expected if isinstance(expected, str) else "expected %r" % (
        expected,)


def _assertion(v, shared: int = 1) -> str | None:
    m = _USAGE.match(v.subject)
    if m:
        where, host, field = m.groups()
        read = "self._tracked(%s)" if where == "tracker" else \
            "self._row(%s)"
        return "self.assertEqual(%r, %s.%s)" % (v.actual, read % _q(host),
                                                field)
    m = _PLACEMENT.match(v.subject)
    if m and v.invariant == "inventory_matches_driver":
        if v.actual is not None:
            return None
        return ("self.assertEqual([], self._providers(%s))"
                % _q(m.group(1)))
    if m:
        return ("self.assertEqual(%r, self._usages(%s))"
                % (v.actual or {}, _q(m.group(1))))
    m = _INSTANCE_ALLOC.match(v.subject)
    if m:
        return ("self.assertEqual(%r, sorted(self._allocated_hosts("
                "self.servers[%s]['id'])))" % (sorted(v.actual or []),
                                                 _q(m.group(1))))
    m = _INSTANCE_ON.match(v.subject)
    if m:
        return ("self.assertEqual(%r, self._allocations(self.servers[%s]"
                "['id']).get(%s))" % (v.actual, _q(m.group(1)),
                                      _q(m.group(2))))
    m = _MIGRATION_ALLOC.match(v.subject)
    if m:
        return ("self.assertEqual(%r, self._allocations(self._migration("
                "self.servers[%s]).uuid))" % (v.actual, _q(m.group(1))))
    if v.invariant == "devices_not_shared":
        held = re.match(r"^held by (\S+) only$", str(v.expected))
        also = re.match(r"^also handed to (\S+)$", str(v.actual))
        if held and also:
            # the device (by whichever name: which one the claim handed
            # out is not fixed) is in both instances' lists
            return ["self.assertEqual(%d, len(self._shared(%s, %s)))"
                    % (shared, _q(held.group(1)), _q(also.group(1)))]
        return None
    m = _AUDIT_RAISED.match(v.subject)
    if m and v.invariant == "audit_completed" and \
            isinstance(v.actual, str) and ":" in v.actual:
        host = _q(m.group(1))
        kind = v.actual.split(":", 1)[0]
        lines = ["self.assertIsNotNone(self._audit_error(%s), 'the audit of "
                 "%s completed')" % (host, m.group(1)),
                 "self.assertEqual(%r, self._audit_error(%s).split(':')[0])"
                 % (kind, host)]
        if not _UNSTABLE.search(v.actual):
            lines.append("self.assertEqual(%r, self._audit_error(%s))"
                         % (v.actual, host))
        return lines
    m = _AUDIT_LOGGED.match(v.subject)
    if m and v.invariant == "audit_completed" and \
            isinstance(v.actual, str) and v.actual.strip():
        said = v.actual.strip().splitlines()[0]
        if _UNSTABLE.search(said):
            said = _UNSTABLE.split(said)[0]
        return ["self.assertIn(%r, self._audit_log())" % said.strip()]
    m = _ROW_STALE.match(v.subject)
    if m and v.invariant == "audit_completed":
        host, field = _q(m.group(1)), m.group(2)
        return ["self.assertEqual(%r, self._row(%s).%s)" % (v.actual, host,
                                                           field),
                "self.assertEqual(%r, self._tracked(%s).%s)"
                % (v.expected, host, field)]
    return None


# ---------------------------------------------------------------------------
# the file
# ---------------------------------------------------------------------------
HELPERS = '''
    # -- how the test steers and stops Nova (as Nova's regression tests do)
    def _prefer(self, *hosts):
        """The scheduler weighs ``hosts`` first, in this order."""
        self.weights.clear()
        for i, host in enumerate(hosts):
            self.weights[host] = 100 - 10 * i

    def _boot(self, name, flavor_id, from_volume=False):
        server = {'name': name, 'flavorRef': flavor_id, 'networks': 'none'}
        if from_volume:
            server['imageRef'] = ''
            server['block_device_mapping_v2'] = [{
                'boot_index': 0, 'uuid': self.cinder.IMAGE_BACKED_VOL,
                'source_type': 'volume', 'destination_type': 'volume',
                'delete_on_termination': False}]
        else:
            server['imageRef'] = IMAGE
        return self.api.post_server({'server': server})

    def _hold(self, method):
        """Hold the next ``method`` cast between computes (it is not
        delivered until _release)."""
        real = getattr(compute_rpcapi.ComputeAPI, method)
        held = self.held[method] = {'event': threading.Event(),
                                    'real': real, 'calls': []}

        def hold(rpcapi, *args, **kwargs):
            held['calls'].append((rpcapi, args, kwargs))
            held['event'].set()

        self.held_patches[method] = mock.patch.object(
            compute_rpcapi.ComputeAPI, method, hold)
        self.held_patches[method].start()

    def _wait_held(self, method):
        self.assertTrue(self.held[method]['event'].wait(30),
                        '%s was not cast' % method)

    def _release(self, method):
        self.held_patches.pop(method).stop()
        held = self.held.pop(method)
        for rpcapi, args, kwargs in held['calls']:
            held['real'](rpcapi, *args, **kwargs)

    def _gate(self, host, method, server):
        """Stop ``host``'s fake driver in ``method`` for ``server``."""
        driver = self.computes[host].manager.driver
        real = getattr(driver, method)
        gate = self.gates[method] = {
            'arrived': threading.Event(), 'go': threading.Event(),
            'outcome': None, 'driver': driver, 'args': None}

        def stalled(*args, **kwargs):
            instance = kwargs.get('instance') or args[1]
            if instance.uuid != server['id'] or gate['args'] is not None:
                return real(*args, **kwargs)
            gate['args'] = (args, kwargs)
            gate['arrived'].set()
            gate['go'].wait(60)
            outcome = gate['outcome']
            if outcome == 'kill':
                raise SystemExit('the compute service died')
            if isinstance(outcome, Exception):
                raise outcome
            if outcome == 'rollback':
                context, instance, dest = args[0], args[1], args[2]
                recover = kwargs.get('recover_method') or args[4]
                return recover(context, instance, dest,
                               kwargs.get('migrate_data') or args[6])
            return real(*args, **kwargs)

        setattr(driver, method, stalled)
        return gate

    def _wait_gate(self, method):
        self.assertTrue(self.gates[method]['arrived'].wait(30),
                        '%s was not called' % method)

    def _open_gate(self, method, fail=None, rollback=False):
        gate = self.gates.pop(method)
        gate['outcome'] = fail or ('rollback' if rollback else None)
        del gate['driver'].__dict__[method]
        gate['go'].set()

    def _kill_gate(self, method):
        gate = self.gates.pop(method)
        gate['outcome'] = 'kill'
        del gate['driver'].__dict__[method]
        gate['go'].set()

    def _fail_once(self, host, method, exc):
        driver = self.computes[host].manager.driver
        real = getattr(driver, method)

        def fail(*args, **kwargs):
            del driver.__dict__[method]
            raise exc

        setattr(driver, method, fail)

    def _driver_raises(self, host, method):
        driver = self.computes[host].manager.driver

        def broken(*args, **kwargs):
            raise RuntimeError('the driver failed %s' % method)

        setattr(driver, method, broken)

    def _driver_restored(self, host, method):
        del self.computes[host].manager.driver.__dict__[method]

    def _service_down(self, host):
        compute = self.computes[host]
        compute.stop()
        service = self.admin_api.get_services(host=host,
                                              binary='nova-compute')[0]
        self.admin_api.put_service(service['id'], {'forced_down': True})

    def _restart(self, host):
        self.computes[host] = self.restart_compute_service(
            self.computes[host])
        service = self.admin_api.get_services(host=host,
                                              binary='nova-compute')[0]
        if service['forced_down']:
            self.admin_api.put_service(service['id'],
                                       {'forced_down': False})

    def _audit(self, host, via):
        """The periodic audit: as the compute service runs it, or the
        tracker's own (whose exception the test sees)."""
        manager = self.computes[host].manager
        if via == 'service':
            # the service logs (LOG.exception) and swallows what the
            # tracker raises: keep what this audit logged
            start = len(self.stdlog.logger.output)
            manager.update_available_resource(self.ctxt)
            self.audit_logs[host] = self.stdlog.logger.output[start:]
            return None
        self.audit_errors[host] = None
        try:
            manager.rt.update_available_resource(self.ctxt,
                                                 NODES.get(host, host))
        except Exception as exc:
            self.audit_errors[host] = exc
            return exc

    def _audit_error(self, host):
        """What the last tracker audit of ``host`` raised, as
        'Type: message' (None when it completed)."""
        exc = self.audit_errors.get(host)
        return None if exc is None else '%s: %s' % (type(exc).__name__,
                                                    exc)

    def _audit_log(self, host=None):
        """What the last service audit of ``host`` (or every host)
        logged."""
        if host is not None:
            return self.audit_logs.get(host, '')
        return ''.join(self.audit_logs.values())

    # -- what the test reads
    def _wait_migration(self, server, status):
        for _ in range(300):
            migration = self._migration(server)
            if migration is not None and migration.status == status:
                return migration
            time.sleep(0.1)
        self.fail('the migration of %s is not %s' % (server['id'], status))

    def _migration(self, server):
        found = objects.MigrationList.get_by_filters(
            self.ctxt, {'instance_uuid': server['id']})
        newest = sorted(found, key=lambda m: m.id)
        return newest[-1] if newest else None

    def _tracked(self, host):
        return self.computes[host].manager.rt.compute_nodes[
            NODES.get(host, host)]

    def _row(self, host):
        return objects.ComputeNode.get_by_host_and_nodename(
            self.ctxt, host, NODES.get(host, host))

    def _devices_of(self, server):
        """The identifiers of the devices the instance's assigned-resources
        list names."""
        instance = objects.Instance.get_by_uuid(
            self.ctxt, server['id'], expected_attrs=['resources'])
        return sorted(r.identifier for r in instance.resources or [])

    def _providers(self, host):
        """The names of the resource providers named as ``host``'s
        node."""
        found = self.placement.get('/resource_providers?name=%s' % (
            urllib.parse.quote(NODES.get(host, host), safe=''))).body
        return [rp['name'] for rp in found['resource_providers']]

    def _usages(self, host):
        usages = self._get_provider_usages(
            self._get_provider_uuid_by_host(NODES.get(host, host)))
        return {rc: n for rc, n in usages.items() if n}

    def _allocations(self, consumer):
        hosts = {self._get_provider_uuid_by_host(NODES.get(h, h)): h
                 for h in HOSTS}
        allocations = self.placement.get(
            '/allocations/%s' % consumer).body['allocations']
        return {hosts.get(rp, rp): dict(a['resources'])
                for rp, a in allocations.items()}

    def _allocated_hosts(self, consumer):
        return list(self._allocations(consumer))
'''

DEVICES_SETUP = '''
        # each host's driver lists devices it assigns one by one (as Nova's
        # persistent-memory namespaces are): an inventory of the class and
        # the provider tree's resources, as the harness's driver did
        real_update_provider_tree = fake.FakeDriver.update_provider_tree

        def update_provider_tree(driver, provider_tree, nodename,
                                 allocations=None):
            real_update_provider_tree(driver, provider_tree, nodename,
                                      allocations=allocations)
            data = provider_tree.data(nodename)
            inventory = data.inventory
            for rc, identifiers in DEVICES.items():
                inventory[rc] = {
                    'total': len(identifiers), 'reserved': 0,
                    'min_unit': 1, 'max_unit': 1, 'step_size': 1,
                    'allocation_ratio': 1.0}
            provider_tree.update_inventory(nodename, inventory)
            provider_tree.update_resources(nodename, {
                rc: {objects.Resource(provider_uuid=data.uuid,
                                      resource_class=rc, identifier=i)
                     for i in identifiers}
                for rc, identifiers in DEVICES.items()})

        patch = mock.patch.object(fake.FakeDriver, 'update_provider_tree',
                                  update_provider_tree)
        patch.start()
        self.addCleanup(patch.stop)
'''

DB_HELPERS = '''
    # -- the database writes the trigger needs (as the harness makes them),
    # on the instance's cell database as Nova's own code reaches it
    @contextlib.contextmanager
    def _cell_db(self, server):
        cell = objects.InstanceMapping.get_by_instance_uuid(
            self.ctxt, server['id']).cell_mapping
        with nova_context.target_cell(self.ctxt, cell) as cctxt:
            with main_db_api.get_context_manager(cctxt).writer.using(
                    cctxt):
                yield cctxt.session

    def _write_migration(self, server, fields):
        """Set ``fields`` of the server's newest migration row (read and
        written as rows: a corrupted row may not load as an object)."""
        with self._cell_db(server) as session:
            row = session.query(main_models.Migration).filter_by(
                instance_uuid=server['id']).order_by(
                main_models.Migration.id.desc()).first()
            saved = {k: getattr(row, k) for k in fields}
            session.query(main_models.Migration).filter_by(
                id=row.id).update(fields, synchronize_session=False)
        return saved

    def _write_flavor(self, server, which, changes):
        """Remove the instance's embedded ('cur'), old or new flavor
        (``changes`` None), or alter its fields, as a manual fix or a
        buggy service could."""
        with self._cell_db(server) as session:
            extra = session.query(main_models.InstanceExtra).filter_by(
                instance_uuid=server['id']).one()
            saved = extra.flavor
            flavors = jsonutils.loads(saved)
            if changes is None:
                flavors[which] = None
            else:
                flavors[which]['nova_object.data'].update(changes)
            extra.flavor = jsonutils.dumps(flavors)
        return saved

    def _write_resources(self, server, mode, value):
        """Rewrite the instance's assigned-resources list
        (instance_extra.resources): 'absent' (NULL), 'empty', each
        resource's 'identifier', 'resource_class' or 'provider' replaced
        by ``value``, 'duplicated', or 'malformed' (``value`` stored as
        the column's text)."""
        with self._cell_db(server) as session:
            extra = session.query(main_models.InstanceExtra).filter_by(
                instance_uuid=server['id']).one()
            saved = extra.resources
            if mode == 'malformed':
                extra.resources = value
            elif mode == 'absent':
                extra.resources = None
            else:
                listed = jsonutils.loads(saved)
                objs = listed['nova_object.data']['objects']
                if mode == 'empty':
                    objs[:] = []
                elif mode == 'duplicated':
                    objs.extend(jsonutils.loads(jsonutils.dumps(objs)))
                else:
                    key = {'provider': 'provider_uuid'}.get(mode, mode)
                    for obj in objs:
                        obj['nova_object.data'][key] = value
                extra.resources = jsonutils.dumps(listed)
        return saved

    def _shared(self, holder, other):
        """The devices ``holder`` was handed at its claim that ``other``'s
        list also names."""
        return sorted(set(self.claimed[holder]) & set(
            self._devices_of(self.servers[other])))

    def _other_device(self, name):
        """A device of the host that ``name`` was not handed."""
        for identifiers in DEVICES.values():
            for identifier in identifiers:
                if identifier not in self.claimed[name]:
                    return identifier
        self.fail('%s holds every device' % name)

    def _restore_resources(self, server, saved):
        with self._cell_db(server) as session:
            session.query(main_models.InstanceExtra).filter_by(
                instance_uuid=server['id']).update(
                {'resources': saved}, synchronize_session=False)

    def _restore_flavor(self, server, saved):
        with self._cell_db(server) as session:
            session.query(main_models.InstanceExtra).filter_by(
                instance_uuid=server['id']).update(
                {'flavor': saved}, synchronize_session=False)
'''


def write_test(chosen: Chosen, nova_version: str = "") -> str:
    """The text of the exported test module."""
    body = _Body(chosen)
    body.hosts_of = {}
    body.down = set()
    # where the harness judged: the snapshot of the harm's stage
    marker = _marker(chosen)
    placed = chosen.detail is not None or chosen.raced
    if chosen.detail is not None:
        # a conductor trial: the fault at the Placement HTTP path
        body.lines = boundary.conductor_body(body, chosen)
    elif chosen.raced:
        # a race, made deterministic at the Placement HTTP path
        body.lines = boundary.race_body(body, chosen)
    for i, call in enumerate([] if placed else chosen.calls):
        if call.verb == "boot":
            body.hosts_of[call.args["name"]] = call.args["host"]
        body.call(call)
        if i == marker:
            body.emit("")
            stages = sorted({s for s, _ in chosen.harm})
            at = _LABEL_STAGE.get(call.args.get("label") or "")
            body.comment("Where the harness judged the finding (%s): "
                         "today's values; each FIX line says what the fix "
                         "changes." % (at if at in stages
                                       else ", ".join(stages)))
            body.lines.extend(assertions(chosen, call.args.get("label")))
            placed = True
            break
    if not placed:
        body.emit("")
        body.lines.extend(assertions(chosen))
    finding = chosen.finding
    prop = finding.proposition
    fid = finding.id
    name = "TestHarness%s" % fid.replace("-", "")
    at_boundary = chosen.detail is not None or chosen.raced
    imports = ["import contextlib", "import datetime"] + (
        ["import re"] if at_boundary else []) + [
               "import threading", "import time", "import urllib.parse",
               "from unittest import mock", ""] + (
        ["from keystoneauth1 import exceptions as ks_exc",
         "from oslo_serialization import jsonutils",
         "from oslo_utils import timeutils", "import requests", ""]
        if at_boundary else [
         "from oslo_serialization import jsonutils",
         "from oslo_utils import timeutils", ""]) + [
               "from nova.compute import rpcapi as compute_rpcapi",
               "from nova import context as nova_context"]
    if body.db_write:
        imports += ["from nova.db.main import api as main_db_api",
                    "from nova.db.main import models as main_models"]
    imports += ["from nova import exception", "from nova import objects"]
    if at_boundary:
        imports += ["from nova.scheduler.client import report"]
    imports += ["from nova.tests import fixtures as nova_fixtures",
                "from nova.tests.functional import integrated_helpers",
                "from nova.virt import fake"]
    db_note = ""
    if body.db_write:
        db_note = textwrap.fill(
            "The trigger is a database write (a corrupted record: a buggy "
            "service, a bad manual fix, a tampered database); the test "
            "makes it the way the harness's fault does.", 72)
    elif chosen.raced:
        db_note = textwrap.fill(
            "The harness observed this as a race between threads (%s); "
            "the test makes the interleaving that harmed deterministic: "
            "each inventory update the report client sends first meets "
            "another placement client's write to the same provider, so "
            "the generation it carries is stale every time." % (
                chosen.trial.condition or chosen.trial.name), 72)
    elif chosen.detail is not None:
        db_note = textwrap.fill(
            "The fault is at the Placement HTTP path only (the report "
            "client's requests, counted from the request the test makes); "
            "the conductor, the scheduler and the report client's helpers "
            "above it run as Nova has them.", 72)
    hosts = chosen.hosts
    reserved = chosen.reserved
    lines = docstring(chosen, nova_version, db_note) + [
        "# (Nova's test start-up first, as its package does in Nova's "
        "tree)",
        "import nova.tests.functional  # noqa: F401,H306", ""]
    lines += imports
    inv = chosen.inventory
    lines += ["", "IMAGE = '155d900f-4e14-4e4c-a73d-069cbf4541e6'",
              "HOSTS = %r" % (tuple(hosts),),
              "# what each host's hypervisor reports (vCPUs, MiB, GiB)",
              "INVENTORY = %r" % ((inv.vcpus, inv.memory_mb, inv.local_gb),),
              "# devices the drivers assign one by one, by resource "
              "class",
              "DEVICES = %r" % (chosen.devices,),
              "NODES = %s" % pprint.pformat(
                  {h: n for h, n in chosen.nodenames.items()}),
              "", "",
              "class %s(integrated_helpers.ProviderUsageBaseTestCase):"
              % name,
              '    """%s"""' % textwrap.shorten(finding.title, 66),
              "", "    compute_driver = 'fake.FakeDriver'", "",
              "    def setUp(self):",
              "        # The scheduler picks the hosts the test prefers "
              "(_prefer).",
              "        self.weights = {HOSTS[0]: 0}",
              "        self.useFixture(nova_fixtures.HostNameWeigherFixture("
              "self.weights))",
              "        self.flags(allow_resize_to_same_host=True, "
              "shelved_offload_time=-1,",
              "                   reserved_host_cpus=%d, "
              "reserved_host_memory_mb=%d," % (reserved.cpus,
                                                reserved.memory_mb),
              "                   reserved_host_disk_mb=%d)" % reserved.disk_mb,
              "        super().setUp()",
              "        self.ctxt = nova_context.get_admin_context()",
              "        self.held, self.held_patches, self.gates = {}, {}, {}",
              "        self.addCleanup(lambda: [p.stop() for p in "
              "self.held_patches.values()])",
              "        self.flavors, self.servers = {}, {}",
              "        self.audit_errors, self.audit_logs = {}, {}",
              "        self.claimed = {}",
              "        # each host's fake driver reports its node and "
              "inventory from start-up",
              "        real_init_host = fake.FakeDriver.init_host",
              "",
              "        def init_host(driver, host):",
              "            real_init_host(driver, host)",
              "            driver._set_nodes([NODES.get(host, host)])",
              "            driver.vcpus, driver.memory_mb, driver.local_gb = "
              "INVENTORY",
              "            (driver.resources.vcpus, driver.resources.memory_mb,",
              "             driver.resources.local_gb) = INVENTORY",
              "",
              "        patch = mock.patch.object(fake.FakeDriver, 'init_host', "
              "init_host)",
              "        patch.start()",
              "        self.addCleanup(patch.stop)",
              "        for host in HOSTS:",
              "            self._start_compute(host)"]
    if chosen.devices:
        at = lines.index("        for host in HOSTS:", len(lines) - 4)
        lines[at:at] = DEVICES_SETUP.rstrip("\n").split("\n")
    lines += ["        for host in HOSTS:",
              "            self.computes[host].manager"
              ".update_available_resource(self.ctxt)"]
    if body.clock:
        lines += ["        self.addCleanup(timeutils.clear_time_override)"]
    lines += ["", "    def test_%s(self):" % _slug(finding.title),
              '        """%s"""' % textwrap.shorten(
                  " ".join(str(prop.get("harm", "")).split()), 66)]
    lines += ["        " + ln if ln else "" for ln in body.lines]
    lines += HELPERS.rstrip("\n").split("\n")
    if body.db_write:
        lines += DB_HELPERS.rstrip("\n").split("\n")
    if chosen.detail is not None:
        lines += boundary.CONDUCTOR_HELPERS.rstrip("\n").split("\n")
    if chosen.raced:
        lines += boundary.RACE_HELPERS.rstrip("\n").split("\n")
    return "\n".join(lines).rstrip() + "\n"


def docstring(chosen: Chosen, nova_version: str = "",
              note: str = "") -> list[str]:
    """The module docstring's lines: the finding in the catalogue's words
    (statement, trigger, harm), how it was found and exported, and
    ``note`` (a paragraph of the writer's)."""
    finding = chosen.finding
    prop = finding.proposition
    fid = finding.id
    statement = textwrap.fill(" ".join(str(prop.get("statement", ""))
                                       .split()), 72)
    trigger = textwrap.fill("Trigger: " + " ".join(str(
        prop.get("trigger", "")).split()), 72)
    harm = textwrap.fill("Harm: " + " ".join(str(prop.get("harm", ""))
                                             .split()), 72)
    fault = chosen.fault.describe() if chosen.fault is not None else None
    how = textwrap.fill(
        "Found by the nova accounting harness as finding %s and exported "
        "with ``python -m harness export %s``%s from its trial %r%s.  The "
        "test drives Nova's own services through the REST API as the "
        "harness did; it asserts today's behaviour, and each FIX comment "
        "says what a fix changes (then flip the assertion)." % (
            fid, fid, " on Nova %s" % nova_version if nova_version else "",
            chosen.trial.name, " (fault: %s)" % fault if fault else ""), 72)
    title = textwrap.wrap("Harness finding %s: %s" % (fid, finding.title),
                          72)
    return (['"""' + title[0]] + title[1:] + [
        "", statement, "", trigger, "", harm, "", how]
        + (["", note] if note else []) + ['"""'])


def _marker(chosen: Chosen) -> int | None:
    """The index of the call after which the harness took the snapshot it
    judged the harm on."""
    stages = {s for s, _ in chosen.harm}
    if chosen.between_audits:
        wanted = ("after the workload",)
    elif chosen.trial.condition is not None:
        # a condition holds from the start: both snapshots are its stage;
        # what the service's audit logged is seen only after the second
        wanted = ("before fault", "under fault")
        if any(v.subject.startswith("service audit ")
               for _s, v in chosen.harm):
            wanted = ("under fault", "before fault")
    elif "under_fault" in stages:
        wanted = ("under fault",)
    elif "during" in stages:
        wanted = ("during",)
    elif "after_clear" in stages:
        wanted = ("after clear",)
    else:
        wanted = ("before fault",)
    for label in wanted:
        for i, call in enumerate(chosen.calls):
            if call.verb == "snapshot" and call.args.get("label") == label:
                return i
    return None


def stamp() -> str:
    return datetime.date.today().isoformat()
