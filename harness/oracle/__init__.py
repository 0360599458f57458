"""The oracle: what the harness created and learned (ledger), what Nova
shows (snapshot, logs) and the invariants that compare the two.

The world (one layer down) does not import the oracle: importing this
package plugs the oracle in (``harness.world.deployment.ORACLE``): the
ledger a world tells what each operation came to, and how a world is
read (its snapshot).
"""
from harness.oracle import ledger as _ledger
from harness.oracle import snapshot as _snapshot
from harness.world import deployment as _deployment

_deployment.ORACLE.update(ledger=_ledger.Ledger, snapshot=_snapshot.take)
