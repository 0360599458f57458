"""``python -m harness export F-NN``: a finding as a Nova regression test.

The harness runs the finding's own scenario trials (:mod:`.choose`) until a
variant shows the finding's harm, with the world recording every operation
it performed (:mod:`harness.world.history`) and what each left.  That
history, the variant's fault and the values the harness observed are then
written (:mod:`.writer`) as one functional test in the shape of Nova's
``nova/tests/functional/regressions/test_bug_*.py``: Nova's own base class
(``integrated_helpers.ProviderUsageBaseTestCase``) and fixtures only, every
operation through the REST API, a stall made by holding an RPC cast or
blocking a fake-driver call, and plain asserts on what the compute nodes
and Placement show.  The test asserts today's broken behaviour (each
assertion names what the fix changes), so a Nova developer can drop it
into Nova's tree and flip the assertions with the fix.

A finding whose trigger is a database write says so in the file and makes
the same write the harness's fault makes, on the instance's cell database.
A failed audit is asserted as what the tracker raised, what the compute
service logged (``Error updating resources for node``) and the
``compute_nodes`` row left stale beside the tracker's figures.

A conductor trial (a cold migration through the API with one placement
answer faulted, judged on what the conductor's caller saw: F-05, F-07) is
written by :mod:`.boundary` with the fault at the Placement HTTP path: the
report client's ``get``/``post``/``put`` answer the n-th call of the route
as the harness's middleware did (an error status, a 409 with placement's
code, a broken connection) or let it meet another client's write first
(a racing writer, a lowered max_unit); the conductor's rollback and the
allocation helpers run as they are.  Asserted: the exception type the
instance fault names, the action's events as the API shows them, and
where the allocation was left.  A race between threads (F-09) is written
with the interleaving the harness saw harm in made deterministic: every
inventory update the report client sends first meets another placement
client's write to the provider, so the audit spends its tries and raises.

What still has no written form (another operation than a cold migration
in a conductor trial, a fault kind the boundary cannot answer, a race
that raised something else) is refused with one line naming it
(``ExportError``, exit status 2), never a file that asserts nothing.
"""
from __future__ import annotations

from harness.export.choose import ExportError, choose  # noqa: F401
from harness.export.writer import write_test  # noqa: F401
