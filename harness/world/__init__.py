"""The world: one hermetic Nova deployment and the operations it performs.

:mod:`.deployment` builds the deployment (databases, Placement, compute
hosts with real trackers); :mod:`.moves` and :mod:`.workloads` drive the
lifecycle in the real shape; :mod:`.conductor` is the conductor driver with
its RPC edges; :mod:`.placement` is the real Placement app behind the fault
middleware; :mod:`.novaenv` is the process-wide Nova set-up.
"""
