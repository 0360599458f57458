"""The test bodies of findings whose trigger is at the Placement HTTP path.

Two kinds of chosen trial (:mod:`.choose`) are written here; the module
around them (docstring, setUp, helpers) is :mod:`.writer`'s:

* a conductor trial (a move through the REST API with one placement
  answer faulted, judged on what the conductor's caller saw): the fault
  is written at the report client's HTTP methods
  (``SchedulerReportClient.get/post/put``): the n-th call of the route,
  counted from the request, answers what the harness's middleware
  answered (an error status, a 409 with placement's error code, a broken
  connection), or first meets the write another placement client made
  (a racing writer bumping the consumer generation, an inventory's
  max_unit lowered); Nova's own code above that boundary runs as it is;
* a race between threads (claims and audits against a changing
  inventory): the interleaving the harness saw harm in is made
  deterministic: every inventory PUT the report client sends first meets
  another placement client's write to the same provider, so the
  generation it sends is stale each time.
"""
from __future__ import annotations

import re

from harness.export.choose import Chosen, ExportError

# the report client's tries of an inventory update that conflicts
# (ResourceTracker._update_to_placement's retry decorator; the finding's
# statement: "four attempts")
INVENTORY_TRIES = 4
# what the audit raises once the tries are spent
CONFLICT = "ResourceProviderUpdateConflict"
# what changes from one run to the next in a message
_UNSTABLE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-|0x[0-9a-f]+|"
                       r"\d{4}-\d\d-\d\d[ T]\d|\{", re.I)


def _q(value) -> str:
    return repr(value)


def _stable(text: str) -> str:
    """The part of a message that is the same from run to run (up to the
    first identifier, time or injected body)."""
    return _UNSTABLE.split(text or "")[0]


# ---------------------------------------------------------------------------
# a conductor trial
# ---------------------------------------------------------------------------
def _answer(fault, world_hosts) -> str:
    """The test's expression of the harness's fault's answer."""
    kind = type(fault).__name__
    if kind == "PlacementError":
        return "self._answer_error(%d, %s)" % (
            fault.status, _q(fault.code or "placement.undefined_code"))
    if kind == "GenerationConflict":
        return "self._answer_error(409, 'placement.concurrent_update')"
    if kind == "PlacementDisconnect":
        return "self._answer_disconnect()"
    if kind == "InnerFault" and fault.action == "racing_write":
        return "self._answer_after_racing_writer()"
    if kind == "LimitLowered":
        if fault.host not in world_hosts:
            raise ExportError("the fault lowers a limit on %s, a host the "
                              "test does not start" % fault.host)
        return "self._answer_after_max_unit(%s, %s, %d)" % (
            _q(fault.host), _q(fault.resource), fault.max_unit)
    raise ExportError("export cannot write the harness's %s fault at the "
                      "report client's HTTP methods yet (%s)"
                      % (kind, fault.describe()))


def _calls(schedule) -> tuple:
    calls = getattr(schedule, "calls", None)
    if not calls:
        raise ExportError("export writes a placement fault on given calls "
                          "only, not %s" % schedule.describe())
    return tuple(calls)


def conductor_body(body, chosen: Chosen) -> list[str]:
    """The test method's lines for a conductor trial: the population the
    recorded calls made, the hosts the operator disabled, the boundary
    fault, the request, and what the caller saw."""
    detail, fault = chosen.detail, chosen.fault
    result = detail.result or {}
    if result.get("operation") != "cold_migrate":
        raise ExportError("export writes a conductor trial's cold "
                          "migration only, not its %s"
                          % result.get("operation"))
    if fault is None:
        raise ExportError("the chosen conductor trial has no fault")
    server = None
    for call in chosen.calls:
        if call.verb == "boot":
            server = call.args["name"]
            body.hosts_of[server] = call.args["host"]
        if call.verb in ("create_flavor", "boot"):
            body.call(call)
    if server is None:
        raise ExportError("the conductor trial booted no server")
    for host in chosen.disabled:
        body.comment("the operator disables %s's compute service: the "
                     "scheduler has no other host" % host)
        body.emit("self._disable(%s)" % _q(host))
    body.emit("")
    body.comment("The trigger, at the Placement HTTP path (the report "
                 "client's requests, counted from the request): %s"
                 % fault.describe())
    body.emit("fault = self._placement_fault(%s, %s, %s, %s)" % (
        _q(fault.method), _q(fault.path), _q(_calls(fault.schedule)),
        _answer(fault, chosen.hosts)))
    srv = body.server(server)
    body.emit("self.admin_api.post_server_action(%s['id'], "
              "{'migrate': None})" % srv)
    body.emit("self._wait_for_action_fail_completion(%s, 'migrate', "
              "'conductor_migrate_server')" % srv)
    body.emit("self.assertEqual(%d, len(fault['fired']), 'the placement "
              "fault did not fire')" % len(detail.fired))
    body.emit("")
    body.comment("Where the harness judged the finding (under_fault): "
                 "what the caller was told; each FIX line says what the "
                 "fix changes.")
    out = []
    for _stage, v in chosen.harm:
        out.extend(_conductor_assertions(chosen, server, v))
    if not out:
        raise ExportError("the harness's observations of %s have no form "
                          "a Nova test can assert yet: %s" % (
                              chosen.finding.id, "; ".join(
                                  str(v) for _s, v in chosen.harm[:3])))
    return body.lines + out


def _caller_lines(chosen, server, fix: str) -> list[str]:
    """What the conductor's caller was told: the type the instance fault
    names and each event of the request's action, as the harness saw
    them."""
    result = chosen.detail.result or {}
    srv = "self.servers[%s]" % _q(server)
    lines = ["# FIX: %s" % fix,
             "self.assertEqual(%r, self._fault_type(%s))"
             % (result.get("error_type"), srv),
             "events = self._events(%s, 'migrate')" % srv]
    for event, outcome, details in result.get("events") or []:
        lines.append("self.assertEqual(%r, events[%r][0])"
                     % (outcome, event))
        said = _stable(details or "")
        if said.strip():
            lines.append("self.assertEqual(%r, events[%r][1][:%d])"
                         % (said, event, len(said)))
    return lines


def _conductor_assertions(chosen, server, v) -> list[str]:
    result = chosen.detail.result or {}
    if v.invariant == "cause_reported":
        cause = result.get("cause")
        return _caller_lines(chosen, server, "%s %s: %s, not %s (%s)" % (
            v.invariant, v.subject, v.expected, v.actual,
            "the scheduler raised %s; the rollback's own error replaced "
            "it" % cause)) + [
            "self.assertNotIn(%r, events['conductor_migrate_server'][1])"
            % "No valid host"]
    if v.invariant == "failure_reported":
        srv = "self.servers[%s]" % _q(server)
        lines = _caller_lines(chosen, server, "%s %s: %s, not %s (%s)" % (
            v.invariant, v.subject, v.expected, v.actual,
            "the refused move back should reach the caller, as a "
            "consumer-generation conflict does"))
        if chosen.detail.achieved == "swapped":
            resources = _resources(chosen, server)
            source = body_host(chosen, server)
            lines += [
                "# the allocation was not moved back: the instance holds "
                "nothing, its migration (in error) the source's share",
                "migration = self._migration(%s)" % srv,
                "self.assertEqual('error', migration.status)",
                "self.assertEqual({}, self._allocations(%s['id']))" % srv,
                "self.assertEqual({%r: %r}, self._allocations("
                "migration.uuid))" % (source, resources)]
        return lines
    return []


def body_host(chosen, server) -> str:
    for call in chosen.calls:
        if call.verb == "boot" and call.args["name"] == server:
            return call.args["host"]
    raise ExportError("no boot of %s recorded" % server)


def _resources(chosen, server) -> dict:
    """What the server's flavor allocates in placement."""
    flavor = next(c.args["flavor"] for c in chosen.calls
                  if c.verb == "boot" and c.args["name"] == server)
    spec = next(c.args for c in chosen.calls
                if c.verb == "create_flavor" and c.args["name"] == flavor)
    out = {"VCPU": spec.get("vcpus", 1),
           "MEMORY_MB": spec.get("memory_mb", 512),
           "DISK_GB": spec.get("root_gb", 10) + spec.get("ephemeral_gb", 0)
           + (spec.get("swap", 0) + 1023) // 1024}
    return {rc: n for rc, n in out.items() if n}


CONDUCTOR_HELPERS = '''
    # -- the Placement HTTP path, as the report client reaches it
    def _disable(self, host):
        service = self.admin_api.get_services(host=host,
                                              binary='nova-compute')[0]
        self.admin_api.put_service(service['id'], {'status': 'disabled'})

    def _placement_fault(self, method, route, calls, answer):
        """From now on, the ``calls``-th requests (1-based) the report
        client sends with ``method`` to a path matching ``route`` get
        ``answer(client, url, send)`` in place of placement's own answer
        (``send()`` sends the request as it is)."""
        real = getattr(report.SchedulerReportClient, method.lower())
        fault = {'matched': 0, 'fired': [], 'slept': []}

        class BackOffClock:
            """The report client's clock, with its retry back-off
            (random sleeps of up to 0, 2, 4 and 6 s between the tries of a
            call that conflicted) recorded instead of waited, as in the
            harness's own trials: the tries are the same, the test does not
            depend on how long they sleep."""
            def __getattr__(self, name):
                return getattr(time, name)

            def sleep(self, seconds):
                fault['slept'].append(seconds)
        clock = mock.patch.object(report, 'time', BackOffClock())
        clock.start()
        self.addCleanup(clock.stop)

        def faulted(client, url, *args, **kwargs):
            def send():
                return real(client, url, *args, **kwargs)
            if not re.search(route, url):
                return send()
            fault['matched'] += 1
            if fault['matched'] not in calls:
                return send()
            fault['fired'].append(url)
            return answer(client, url, send, *args)

        patch = mock.patch.object(report.SchedulerReportClient,
                                  method.lower(), faulted)
        patch.start()
        self.addCleanup(patch.stop)
        return fault

    @staticmethod
    def _answer_error(status, code):
        """Placement's error answer: ``status``, with ``code``."""
        def answer(client, url, send, *args):
            response = requests.Response()
            response.status_code = status
            response.headers['Content-Type'] = 'application/json'
            response.headers['openstack-request-id'] = 'req-fault'
            response._content = jsonutils.dump_as_bytes({'errors': [{
                'status': status, 'code': code, 'title': 'Fault',
                'detail': 'the test answered %d %s' % (status, code),
                'request_id': 'req-fault'}]})
            return response
        return answer

    @staticmethod
    def _answer_disconnect():
        """The connection to placement breaks before any answer."""
        def answer(client, url, send, *args):
            raise ks_exc.ConnectFailure('the connection to placement broke')
        return answer

    def _answer_after_racing_writer(self):
        """Another client re-writes the first consumer of the POST that
        holds allocations (the same amounts), so the generation the
        request carries is stale; then the request is sent."""
        def answer(client, url, send, *args):
            for consumer in args[0]:
                held = self.placement.get('/allocations/%s' % consumer,
                                          version='1.28').body
                if not held['allocations']:
                    continue
                self.placement.put('/allocations/%s' % consumer, {
                    'allocations': {
                        rp: {'resources': a['resources']}
                        for rp, a in held['allocations'].items()},
                    'project_id': held['project_id'],
                    'user_id': held['user_id'],
                    'consumer_generation': held['consumer_generation']},
                    version='1.28')
                break
            return send()
        return answer

    def _answer_after_max_unit(self, host, resource, max_unit):
        """Just before the request is served, another client (an operator,
        the hypervisor's next report) lowers ``resource``'s max_unit on
        ``host``'s provider; then the request is sent."""
        def answer(client, url, send, *args):
            rp = self._get_provider_uuid_by_host(NODES.get(host, host))
            body = self.placement.get(
                '/resource_providers/%s/inventories' % rp).body
            inventory = dict(body['inventories'][resource],
                             max_unit=max_unit,
                             resource_provider_generation=body[
                                 'resource_provider_generation'])
            self.placement.put('/resource_providers/%s/inventories/%s' % (
                rp, resource), inventory)
            return send()
        return answer

    def _fault_type(self, server):
        """The exception type the server's latest instance fault names
        (the last line of its traceback)."""
        fault = objects.InstanceFault.get_latest_for_instance(
            self.ctxt, server['id'])
        if fault is None or not fault.details:
            return None
        last = fault.details.strip().splitlines()[-1]
        return last.split(':')[0].rsplit('.', 1)[-1]

    def _events(self, server, action):
        """{event: (result, details)} of the server's latest ``action``,
        as the API shows them to an admin."""
        actions = [a for a in self.admin_api.get_instance_actions(
            server['id']) if a['action'] == action]
        detail = self.admin_api.get_instance_action_details(
            server['id'], actions[0]['request_id'])
        return {e['event']: (e['result'], e.get('details') or '')
                for e in detail['events']}
'''


# ---------------------------------------------------------------------------
# a race between threads
# ---------------------------------------------------------------------------
def race_body(body, chosen: Chosen) -> list[str]:
    """The test method's lines for a race the harness saw harm in,
    made deterministic: the driver's inventory changes, and every
    inventory PUT the report client sends meets another placement
    client's write to the provider first; the host's audit then spends
    its tries and raises."""
    kinds = _raced_errors(chosen)
    if CONFLICT not in kinds:
        raise ExportError("the race of %s showed %s, not the %s the "
                          "export writes deterministically" % (
                              chosen.finding.id, ", ".join(sorted(kinds))
                              or "no error", CONFLICT))
    host = chosen.hosts[0]
    h = _q(host)
    body.comment("The harness saw this as a race: claims, audits and an "
                 "outside placement client on threads, the driver's "
                 "inventory changing between audits.  Here the "
                 "interleaving that harmed is made deterministic.")
    body.comment("The driver's inventory changes (one vCPU fewer), so the "
                 "next audit writes inventory to placement.")
    body.emit("driver = self.computes[%s].manager.driver" % h,
              "driver.vcpus = driver.resources.vcpus = INVENTORY[0] - 1")
    body.comment("Every inventory PUT the report client sends first meets "
                 "another client's write to the same provider (a trait "
                 "set, through placement's API), so the generation it "
                 "carries is stale.")
    body.emit("raced = self._writer_races_inventory_updates(%s)" % h)
    body.emit("self._audit(%s, 'tracker')" % h)
    body.emit("")
    body.comment("Where the harness judged the finding: the audit fails "
                 "once the report client's tries are spent; each FIX line "
                 "says what a fix changes.")
    # the audit's own failure, which the test shows, first
    seen = sorted((v for _s, v in chosen.harm
                   if str(v.actual).startswith(CONFLICT)),
                  key=lambda v: v.invariant != "concurrent_audit_completed")[0]
    said = _stable(str(seen.actual))
    body.emit("# FIX: %s %s: %s, not %s (seen under the race) -- a fix "
              "retries until the write lands, or leaves the conflict to "
              "a caller that retries" % (seen.invariant, seen.subject,
                                         seen.expected, CONFLICT),
              "error = self._audit_error(%s) or ''" % h,
              "self.assertEqual(%r, error[:%d])" % (said, len(said)),
              "# each of the report client's tries met the other writer",
              "self.assertEqual(%d, len(raced))" % INVENTORY_TRIES,
              "# placement keeps the inventory the driver reported before",
              "rp = self._get_provider_uuid_by_host(NODES.get(%s, %s))"
              % (h, h),
              "self.assertEqual(INVENTORY[0], self.placement.get("
              "'/resource_providers/%s/inventories' % rp).body["
              "'inventories']['VCPU']['total'])")
    return body.lines


def _raced_errors(chosen) -> set:
    """The exception types the harm's violations name."""
    out = set()
    for _s, v in chosen.harm:
        for text in (v.actual, v.detail):
            out.update(re.findall(r"\b([A-Z][A-Za-z]+(?:Conflict|Error|"
                                  r"Failed|Exception))\b", str(text)))
    return out


RACE_HELPERS = '''
    # -- another placement client, racing the report client
    def _writer_races_inventory_updates(self, host):
        """Just before each inventory PUT the report client sends for
        ``host``'s provider, another client sets a trait on the provider
        through placement's API (bumping its generation).  Returns the
        URLs of the PUTs so raced."""
        rp = self._get_provider_uuid_by_host(NODES.get(host, host))
        real = report.SchedulerReportClient.put
        raced = []
        self.placement.put('/traits/CUSTOM_OTHER_CLIENT', None,
                           version='1.6')

        def put(client, url, *args, **kwargs):
            if re.match(r'^/resource_providers/%s/inventories' % rp, url):
                raced.append(url)
                current = self.placement.get(
                    '/resource_providers/%s/traits' % rp,
                    version='1.6').body
                traits = set(current['traits'])
                traits ^= {'CUSTOM_OTHER_CLIENT'}
                self.placement.put(
                    '/resource_providers/%s/traits' % rp,
                    {'traits': sorted(traits),
                     'resource_provider_generation':
                         current['resource_provider_generation']},
                    version='1.6')
            return real(client, url, *args, **kwargs)

        patch = mock.patch.object(report.SchedulerReportClient, 'put', put)
        patch.start()
        self.addCleanup(patch.stop)
        return raced
'''
