"""The world: one hermetic Nova deployment and the operations it performs.

:mod:`.deployment` builds the deployment (databases, Placement, compute
hosts with real trackers); :mod:`.moves` and :mod:`.workloads` drive the
lifecycle in the real shape; :mod:`.conductor` asks the API for the moves
the conductor scenarios judge and reads what Nova's conductor did with
them; :mod:`.placement` is the real Placement app behind the fault
middleware; :mod:`.novaenv` is the process-wide Nova set-up.
"""
