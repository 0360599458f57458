"""Running the explorer: bounded exploration, failures, the corpus.

:func:`explore` runs the state machine of :mod:`harness.explore.machine`
for a time budget, in batches of Hypothesis examples whose seeds derive
from one seed (the same seed replays the same examples in the same order;
the budget only decides how many batches run).  A failure is shrunk by
Hypothesis, and the minimal failing run becomes a :class:`Failure`: its
operations as data, the operation after which the invariants failed, the
violations, and Hypothesis's own rendering of the rule calls.

:func:`save` writes a failure to the corpus (``scenarios/corpus/*.json``);
:func:`replay_entry` and :func:`replay_corpus` replay entries on a fresh
world with the same checker and say what failed, so CI (and the mutation
runner) can replay them against whatever Nova is importable.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import mmap
import os
import pickle
import resource
import select
import signal
import struct
import time

import hypothesis
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from harness.explore import hypothesis_adapter
from harness.explore.forked import Template
from harness.explore.machine import (InvariantViolated, Recorder,
                                     prepare_world,
                                     make_machine)
from harness.oracle.stepchecks import StepChecker
from harness.verdicts import snapshots
from harness.world.ops import Op, replay

CORPUS = os.path.join(os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))), "scenarios", "corpus")
ENTRY_VERSION = 1
# Examples per batch (the CLI's and the matrix's default).  Each batch
# starts with Hypothesis's simplest example (the first enabled rule at every
# step) and a few tiny ones; with two a batch, as this once was, every
# example was one of those.
EXAMPLES = 100


class BadEntry(ValueError):
    """A corpus entry that cannot be read."""


@dataclasses.dataclass
class Failure:
    seed: int
    batch: int
    ops: list                  # operation dicts, the minimal failing run
    failed_after: str          # the operation after which checks failed
    violations: list           # str
    invariants: list           # invariant names, sorted, unique
    program: str = ""          # Hypothesis's rendering of the rule calls
    exclude: list = dataclasses.field(default_factory=list)

    def as_entry(self) -> dict:
        from harness.world import novaenv
        nova = novaenv.version_info()["nova"]
        return {"version": ENTRY_VERSION, "seed": self.seed,
                "batch": self.batch, "exclude": self.exclude,
                "ops": self.ops, "failed_after": self.failed_after,
                "invariants": self.invariants,
                "violations": self.violations, "program": self.program,
                # the Nova it was found on, and what a replay showed on
                # each release it was replayed on (record_outcome)
                "nova": nova, "outcomes": {nova: self.invariants}}


@dataclasses.dataclass
class ExploreResult:
    seed: int
    budget: float
    elapsed: float
    ops: int
    runs: int
    batches: int
    failure: Failure | None
    gaps: dict
    cpu: float = 0.0           # CPU seconds, this process and children
    jobs: int = 1              # processes that explored at once
    kinds: dict = dataclasses.field(default_factory=dict)  # op -> count

    def mix(self) -> str:
        """The operations performed, by kind, most frequent first."""
        total = sum(self.kinds.values()) or 1
        return ", ".join("%s %d%%" % (f, round(100 * n / total))
                         for f, n in sorted(self.kinds.items(),
                                            key=lambda kv: -kv[1]))

    @property
    def ops_per_second(self) -> float:
        return self.ops / self.elapsed if self.elapsed else 0.0

    @property
    def ops_per_cpu_second(self) -> float:
        """Throughput per CPU second: what a dedicated core would do, on a
        machine whose other jobs take their share of the wall clock."""
        return self.ops / self.cpu if self.cpu else 0.0


def batch_seed(seed: int, batch: int) -> int:
    return (seed * 1_000_003 + batch) % (2 ** 32)


def _settings(examples: int, steps: int):
    return settings(max_examples=examples, stateful_step_count=steps,
                    deadline=None, database=None, derandomize=False,
                    phases=(Phase.explicit, Phase.generate, Phase.shrink),
                    suppress_health_check=list(HealthCheck),
                    report_multiple_bugs=False, print_blob=False)


def run_batch(seed: int, batch: int, recorder: Recorder, exclude=(),
              examples: int = 10, steps: int = 40,
              shrink_seconds: float = 300, template=None,
              world_kwargs=None):
    """One batch of examples; returns a :class:`Failure` or None.
    ``shrink_seconds`` bounds Hypothesis's shrinking (its own limit is five
    minutes; each attempt here replays real Nova operations), and the
    recorder's deadline ends the batch between two examples
    (:mod:`harness.explore.hypothesis_adapter`: both restored after it).  Every
    example starts from a copy of ``template``'s world (an open
    :class:`~harness.explore.forked.Template`; without one, the batch opens
    its own)."""
    if template is None:
        with Template(world_kwargs, prepare_world) as own:
            return run_batch(seed, batch, recorder, exclude, examples, steps,
                             shrink_seconds, template=own)
    cls = _machine(recorder, exclude, template)
    # Hypothesis digests the factory's source (for an example database;
    # none here): the class's is the whole machine, ~120 ms of tokenizing a
    # batch, a one-line factory's nothing.  The examples are the same.
    machine = hypothesis.seed(batch_seed(seed, batch))(lambda: cls())
    try:
        with hypothesis_adapter.limits(recorder.deadline, shrink_seconds):
            run_state_machine_as_test(machine,
                                      settings=_settings(examples, steps))
    except InvariantViolated as exc:
        return _failure(seed, batch, recorder, exc, exclude)
    except Exception as exc:  # noqa: BLE001 - a harness error is a failure
        return _harness_error(seed, batch, recorder, exc, exclude)
    return None


_LAST_MACHINE: list = [None]   # (recorder, exclude, template, class)


def _machine(recorder, exclude, template):
    """The state machine class for these arguments: the last one made when
    they are the same (an exploration's batches share them; making the
    class costs ~35 ms)."""
    last = _LAST_MACHINE[0]
    exclude = frozenset(exclude)
    if (last is None or last[0] is not recorder or last[1] != exclude
            or last[2] is not template):
        last = (recorder, exclude, template,
                make_machine(recorder, exclude=exclude, template=template))
        _LAST_MACHINE[0] = last
    return last[3]


def _harness_error(seed, batch, recorder, exc, exclude) -> Failure:
    done, _ = recorder.last_failure or (None, None)
    return Failure(seed, batch, list(recorder.last_ops),
                   str(done) if done else "(set-up)",
                   ["harness error: %s: %s" % (type(exc).__name__, exc)],
                   ["harness_error"], _program(exc), list(exclude))


def _program(exc) -> str:
    return "\n".join(str(n) for n in getattr(exc, "__notes__", []))


def _failure(seed, batch, recorder, exc, exclude) -> Failure:
    return Failure(
        seed, batch, list(recorder.last_ops), str(exc.op),
        [str(v) for v in exc.violations],
        sorted({v.invariant for v in exc.violations}), _program(exc),
        list(exclude))


JOBS_ENV = "HARNESS_EXPLORE_JOBS"


def default_jobs() -> int:
    """Processes exploring at once: ``HARNESS_EXPLORE_JOBS``, else as many
    as trial copies run at once (one per CPU, divided among xdist
    workers: :func:`harness.verdicts.snapshots.parallel`)."""
    raw = os.environ.get(JOBS_ENV, "").strip()
    if raw.isdigit() and int(raw) > 0:
        return int(raw)
    return snapshots.parallel()


def cpu_seconds() -> float:
    """CPU seconds of this process and of every child it has waited for
    (the copies the examples run in, the parallel explorers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def explore(budget: float, seed: int, exclude=(), examples: int = 10,
            steps: int = 40, on_op=None, on_batch=None,
            max_batches: int | None = None,
            shrink_seconds: float | None = None,
            jobs: int | None = None, world_kwargs=None) -> ExploreResult:
    """Explore for ``budget`` seconds (or ``max_batches`` batches) against
    whatever Nova is importable; stops at the first failure, which is
    shrunk for at most ``shrink_seconds`` (default: half the budget,
    between 30 s and 300 s).

    Batches run in ``jobs`` processes at once (default
    :func:`default_jobs`), each forked after the template world is built:
    process k runs batches k, k + jobs, ...; a batch's examples depend only
    on the seed and its number, so the same seed runs the same examples of
    each batch, in the same order, whatever the number of processes; the
    budget stops a batch between two examples (at least one runs).
    Batches should be large: Hypothesis starts every batch with its
    simplest example (the first enabled rule at every step: 25 audits)
    and then with tiny ones, so two-example batches explore nothing
    else.  A failure stops batches after it;
    batches before it still finish, and the failure of the lowest-numbered
    batch is the one returned - the one a single process would have
    found first."""
    if shrink_seconds is None:
        shrink_seconds = min(300.0, max(30.0, budget / 2))
    started = time.monotonic()
    cpu0 = cpu_seconds()
    args = dict(exclude=exclude, examples=examples, steps=steps,
                shrink_seconds=shrink_seconds)
    with Template(world_kwargs, prepare_world) as template:
        jobs = default_jobs() if jobs is None else max(1, jobs)
        if (jobs > 1 and (template.world is None
                          or max_batches == 1
                          or snapshots.thread_reason() is not None)):
            jobs = 1
        if jobs == 1:
            runs = [_batches(template, seed, 0, 1, started, budget,
                             max_batches, args, on_op, on_batch)]
        else:
            runs = _in_parallel(template, seed, jobs, started, budget,
                                max_batches, args, on_op)
    ops = sum(r["ops"] for r in runs)
    gaps: dict = {}
    kinds: dict = {}
    for r in runs:
        for key, n in r["gaps"].items():
            gaps[key] = gaps.get(key, 0) + n
        for f, n in r.get("kinds", {}).items():
            kinds[f] = kinds.get(f, 0) + n
    failures = [r["failure"] for r in runs if r["failure"] is not None]
    failure = min(failures, key=lambda f: f.batch) if failures else None
    return ExploreResult(seed, budget, time.monotonic() - started, ops,
                         sum(r["runs"] for r in runs),
                         sum(len(r["batches"]) for r in runs), failure,
                         {"%s: %s" % k: n for k, n in sorted(gaps.items())},
                         cpu=cpu_seconds() - cpu0, jobs=jobs,
                         kinds=kinds)


def _batches(template, seed, first, stride, started, budget, max_batches,
             args, on_op=None, on_batch=None, stop_at=None) -> dict:
    """Batches ``first``, ``first + stride``, ... until the budget is
    spent (each process runs one batch at least), ``max_batches`` is
    reached or a batch fails; ``stop_at()`` (the lowest failing batch
    another process found) stops batches after it."""
    # the budget also stops a batch between two of its examples
    recorder = Recorder(on_op=on_op, deadline=started + budget)
    batch, done, failure = first, [], None
    while not done or time.monotonic() - started < budget:
        if max_batches is not None and batch >= max_batches:
            break
        if stop_at is not None and stop_at() < batch:
            break
        failure = run_batch(seed, batch, recorder, template=template,
                            **args)
        done.append(batch)
        if on_batch is not None:
            on_batch(len(done), recorder)
        if failure is not None:
            break
        batch += stride
    return {"batches": done, "ops": recorder.ops_total,
            "runs": recorder.runs, "gaps": recorder.gaps,
            "kinds": recorder.kinds,
            "failure": failure}


def _in_parallel(template, seed, jobs, started, budget, max_batches, args,
                 on_op) -> list[dict]:
    """:func:`_batches` in ``jobs`` forked processes (see :func:`explore`);
    their operation counts and the lowest failing batch are shared through
    an anonymous shared mapping, polled for ``on_op``."""
    cell = struct.Struct("<q")
    shared = mmap.mmap(-1, cell.size * (jobs + 1))
    none = 2 ** 62
    cell.pack_into(shared, jobs * cell.size, none)

    def stop_at():
        return cell.unpack_from(shared, jobs * cell.size)[0]

    def work(k):
        def run(_left):
            out = _batches(template, seed, k, jobs, started, budget,
                           max_batches, args,
                           on_op=lambda n: cell.pack_into(
                               shared, k * cell.size, n),
                           stop_at=stop_at)
            if out["failure"] is not None:
                cell.pack_into(shared, jobs * cell.size,
                               min(stop_at(), out["failure"].batch))
            return pickle.dumps(out, protocol=pickle.HIGHEST_PROTOCOL)
        return run

    spawned = {}        # k -> (pid, read end of its pipe)
    runs, seen = [None] * jobs, 0
    try:
        for k in range(jobs):
            spawned[k] = snapshots.spawn(work(k))
        for k in range(jobs):
            pid, fd = spawned[k]
            # a process writes its result once, when it is done
            while not select.select([fd], [], [], 0.5)[0]:
                total = sum(cell.unpack_from(shared, i * cell.size)[0]
                            for i in range(jobs))
                if on_op is not None and total != seen:
                    seen = total
                    on_op(total)
            with os.fdopen(fd, "rb") as pipe:
                payload = pipe.read()
            del spawned[k]
            runs[k] = _worker_result(seed, k, payload,
                                     os.waitpid(pid, 0)[1])
    finally:
        for pid, fd in spawned.values():  # interrupted: no orphan left
            os.close(fd)
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    return runs


def _worker_result(seed, k, payload, status) -> dict:
    if payload:
        try:
            return pickle.loads(payload)
        except Exception:  # noqa: BLE001 - reported below
            pass
    return {"batches": [], "ops": 0, "runs": 0, "gaps": {},
            "failure": Failure(seed, k, [], "(explorer process %d)" % k,
                               ["harness error: the explorer process "
                                "ended (wait status %r) before reporting; "
                                "see its stderr" % (status,)],
                               ["harness_error"])}


# -- the corpus ---------------------------------------------------------------
def entry_name(entry: dict) -> str:
    digest = hashlib.sha256(json.dumps(entry["ops"], sort_keys=True)
                            .encode()).hexdigest()[:12]
    return "%s-%s.json" % ("+".join(entry["invariants"]) or "failure",
                           digest)


def save(failure: Failure, directory: str = CORPUS) -> str:
    """Write ``failure`` to the corpus; returns the path (atomic write)."""
    entry = failure.as_entry()
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, entry_name(entry))
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(entry, fh, indent=1, sort_keys=True)
        fh.write("\n")
    os.replace(tmp, path)
    return path


def load_entry(path: str) -> dict:
    try:
        with open(path) as fh:
            entry = json.load(fh)
    except (OSError, ValueError) as exc:
        raise BadEntry("%s: not a readable corpus entry (%s); re-run "
                       "`python -m harness explore` to regenerate it"
                       % (path, exc)) from None
    if (not isinstance(entry, dict) or entry.get("version") != ENTRY_VERSION
            or not isinstance(entry.get("ops"), list)):
        raise BadEntry("%s: not a version-%d corpus entry (needs 'version' "
                       "and 'ops'); re-run `python -m harness explore` to "
                       "regenerate it" % (path, ENTRY_VERSION))
    return entry


@dataclasses.dataclass
class ReplayResult:
    path: str
    ops: int
    failed_after: str | None
    violations: list
    invariants: list
    history: list

    @property
    def failed(self) -> bool:
        return bool(self.violations)


def replay_entry(path: str, echo=None) -> ReplayResult:
    """Replay one corpus entry on a fresh world with the step checker;
    ``echo(line)`` (optional) is told every operation and its outcome."""
    entry = load_entry(path)
    try:
        ops = [Op.from_dict(d) for d in entry["ops"]]
    except ValueError as exc:
        raise BadEntry("%s: %s" % (path, exc)) from None
    checker = StepChecker()

    def check(world, op, client):
        found = checker(world, op, client)
        if echo is not None:
            echo("%-70s %s" % (op, "FAILED" if found else "ok"))
        return found

    history, failure = replay(ops, check=check)
    if failure is None:
        return ReplayResult(path, len(ops), None, [], [],
                            [str(o) for o in history])
    op, violations = failure
    return ReplayResult(path, len(ops), str(op),
                        [str(v) for v in violations],
                        sorted({v.invariant for v in violations}),
                        [str(o) for o in history])


def expected_outcome(entry: dict, nova: str):
    """What a replay of ``entry`` on Nova ``nova`` showed when it was
    recorded: the invariants that failed (``[]``: none), or None when no
    replay on that release was recorded."""
    outcomes = entry.get("outcomes") or {entry.get("nova"): entry[
        "invariants"]}
    return outcomes.get(nova)


def record_outcome(path: str) -> tuple[str, list]:
    """Replay ``path`` on the installed Nova and record what failed in the
    entry's ``outcomes`` under that release (the entry rewritten
    atomically).  Returns (release, invariants)."""
    from harness.world import novaenv
    entry = load_entry(path)
    result = replay_entry(path)
    nova = novaenv.version_info()["nova"]
    entry.setdefault("outcomes", {})[nova] = result.invariants
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(entry, fh, indent=1, sort_keys=True)
        fh.write("\n")
    os.replace(tmp, path)
    return nova, result.invariants


def corpus_entries(directory: str = CORPUS) -> list[str]:
    """The paths of the corpus's entries, in name order."""
    if not os.path.isdir(directory):
        return []
    return [os.path.join(directory, name)
            for name in sorted(os.listdir(directory))
            if name.endswith(".json")]


def replay_corpus(directory: str = CORPUS) -> list[ReplayResult]:
    """Replay every entry of the corpus; each result says what failed."""
    return [replay_entry(path) for path in corpus_entries(directory)]
