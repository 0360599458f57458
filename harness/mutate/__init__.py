"""The harness's own mutation score (``python -m harness mutate``).

Small defects of our own design are applied, one at a time, to temporary
copies of Nova's ``resource_tracker.py`` and ``conductor/tasks/migrate.py``
(never to the installed files); each mutant is loaded in the child processes
that run the *catchers* (scenarios, the explorer's corpus, a bounded
exploration), and the report says which defects were caught and by what.

    operators.py  AST operators: which node a defect changes, and how
    defects.py    the defect list (sites found by function name, not line)
    loader.py     serves a mutant file as the Nova module (HARNESS_MUTANT)
    probe.py      pytest plugin: per-scenario outcome signature + coverage
    catchers.py   the catcher interface and the scenario/corpus/explore ones
    patch.py      --patch: a reviewer's unified diff as one more mutant
    runner.py     pristine run, per-defect runs, mutation.json + Markdown

Nothing here imports Nova at import time: ``loader`` must be installed
before anything imports the modules it replaces.
"""
