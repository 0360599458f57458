"""Invariants for the conductor's allocation moves: pure checks.

Each function takes what was observed (allocations read from Placement as
an observer, what the caller of an operation saw, counts, captured log
lines) and returns a list of :class:`~harness.oracle.invariants.Violation`.  None
of them calls Nova.  ``tests/test_conductor.py`` builds a known-bad input
for each and shows it is caught.

Allocations are ``{consumer uuid: {provider name: {resource class:
amount}}}``; a consumer with nothing allocated maps to ``{}``.
"""
from __future__ import annotations

import re
from typing import Iterable

from harness.oracle.invariants import Violation

ENDED = ("confirmed", "reverted", "completed", "error", "failed",
         "cancelled", "done")
ERRORED = ("error", "failed")


def classify(actual: dict, states: dict) -> str:
    """The label of the state ``actual`` equals (restricted to the
    consumers the states name), or ``"mixed"``."""
    for label, state in states.items():
        if all(actual.get(c, {}) == want for c, want in state.items()):
            return label
    return "mixed"


def allocations_before_or_after(actual: dict, states: dict,
                                names: dict | None = None
                                ) -> list[Violation]:
    """Each consumer holds one of its allowed allocations, and together
    they are one allowed state, never a mixture.

    ``states`` maps a label ("before", "after", ...) to the allocations of
    every consumer involved in that state.
    """
    names = names or {}
    out = []
    consumers = sorted({c for st in states.values() for c in st})
    per_consumer_ok = True
    for c in consumers:
        got = actual.get(c, {})
        allowed = {label: st.get(c, {}) for label, st in states.items()}
        if got not in allowed.values():
            per_consumer_ok = False
            lost = not got and all(allowed.values())
            out.append(Violation(
                "allocations_before_or_after",
                "%s %s" % (names.get(c, "consumer"), c), allowed, got,
                "allocation lost" if lost else
                "neither the before nor the intended after allocation"))
    if per_consumer_ok and classify(actual, states) == "mixed":
        parts = []
        for c in consumers:
            got = actual.get(c, {})
            which = [label for label, st in states.items()
                     if st.get(c, {}) == got]
            parts.append("%s as %s" % (names.get(c, c), "/".join(which)))
        out.append(Violation(
            "allocations_before_or_after", "consumers %s"
            % ", ".join(names.get(c, c) for c in consumers),
            sorted(states), {c: actual.get(c, {}) for c in consumers},
            "mixture: " + "; ".join(parts)))
    return out


def instances_hold_allocations(actual: dict, instances: dict,
                               covering: dict | None = None
                               ) -> list[Violation]:
    """No living instance is left without allocations.

    ``instances``: uuid -> name of every living instance.  ``covering``:
    instance uuid -> uuid of its migration still in progress; an instance
    whose allocation that migration holds (as during a move, before the
    destination is claimed) is covered.
    """
    covering = covering or {}
    out = []
    for uuid, name in sorted(instances.items()):
        if actual.get(uuid):
            continue
        mig = covering.get(uuid)
        if mig and actual.get(mig):
            continue
        out.append(Violation(
            "instances_hold_allocations", "instance %s %s" % (name, uuid),
            "allocations in placement", actual.get(uuid, {}),
            "living instance holds nothing%s" % (
                " (its migration %s holds nothing either)" % mig
                if mig else "")))
    return out


def errored_migrations_hold_nothing(actual: dict, migrations: dict
                                    ) -> list[Violation]:
    """A migration that ended in error holds no allocation.

    ``migrations``: uuid -> (label, status).  Nothing in Nova moves or
    frees what an errored migration holds (the tracker's audit skips
    consumers that are not instances), so anything it still holds is
    leaked until an operator removes it.
    """
    out = []
    for uuid, (label, status) in sorted(migrations.items()):
        if status in ERRORED and actual.get(uuid):
            out.append(Violation(
                "errored_migrations_hold_nothing",
                "%s %s (status %s)" % (label, uuid, status), {},
                actual[uuid], "held by a migration in %s" % status))
    return out


def failure_reported(achieved: str, success: Iterable[str],
                     reported: bool, caller_saw: str = "",
                     subject: str = "operation") -> list[Violation]:
    """The caller learns whether the operation did what it asked.

    ``achieved`` is the label of the state reached (see :func:`classify`);
    ``success`` the labels meaning the operation was done; ``reported``
    whether the caller was told of a failure (an exception, or for a cast,
    the migration set to error).
    """
    success = set(success)
    if achieved not in success and not reported:
        return [Violation("failure_reported", subject,
                          "a failure the caller can see",
                          "state %s, caller told nothing" % achieved,
                          "silent failure" + (
                              " (%s)" % caller_saw if caller_saw else ""))]
    if achieved in success and reported:
        return [Violation("failure_reported", subject,
                          "no failure reported",
                          "state %s, caller told: %s" % (achieved,
                                                         caller_saw),
                          "failure reported though the change was made")]
    return []


def attempts_bounded(counts: dict, bounds: dict) -> list[Violation]:
    """Each counted thing stays within its stated bound.

    ``counts`` and ``bounds`` map the same names (e.g. ``prep_resize
    attempts`` -> ``max_attempts``) to numbers.
    """
    out = []
    for what, bound in sorted(bounds.items()):
        got = counts.get(what, 0)
        if got > bound:
            out.append(Violation("attempts_bounded", what, "<= %s" % bound,
                                 got, "above the bound"))
    return out


def one_destination_at_a_time(samples: list, compute_nodes: Iterable[str],
                              subject: str = "instance") -> list[Violation]:
    """While rescheduling, the instance holds at most one compute node.

    ``samples``: the instance's allocations ({provider name: resources})
    as each destination saw them when its prep_resize began.
    """
    nodes = set(compute_nodes)
    out = []
    for i, held in enumerate(samples, 1):
        on = sorted(set(held) & nodes)
        if len(on) > 1:
            out.append(Violation("one_destination_at_a_time",
                                 "%s at attempt %d" % (subject, i),
                                 "one compute node", on,
                                 "allocations on several destinations"))
    return out


def sharing_usage_matches_instances(usage: dict, expected: dict
                                    ) -> list[Violation]:
    """A sharing provider's usage is what the instances on it occupy.

    ``usage``: provider name -> DISK_GB used in placement; ``expected``:
    provider name -> (disk the living instances backed by it occupy, each
    counted once, and a description).
    """
    out = []
    for name, (want, why) in sorted(expected.items()):
        got = usage.get(name, 0)
        if got != want:
            out.append(Violation(
                "sharing_usage_matches_instances", "sharing provider %s"
                % name, want, got, "%s%s" % (
                    "held twice: " if got > want else "", why)))
    return out


def move_not_refused_for_held_disk(refused: bool, dest_free: dict,
                                   need: dict, shared_free: int,
                                   disk: int, subject: str = "move"
                                   ) -> list[Violation]:
    """A move that needs no new shared disk is not refused for disk.

    The instance's disk already sits on a sharing provider the destination
    shares, so the move needs only the destination's own resources.
    ``dest_free``/``need``: resource class -> free on the destination
    compute node / the flavor's amount (compute resources only).
    ``shared_free``: free DISK_GB on the sharing provider; ``disk``: the
    instance's disk.  Violation when the move was refused although the
    destination fits ``need`` and the refusal can only come from asking
    the sharing provider for ``disk`` again (``shared_free < disk``).
    """
    if not refused:
        return []
    fits = all(dest_free.get(rc, 0) >= amount for rc, amount in need.items())
    if fits and shared_free < disk:
        return [Violation(
            "move_not_refused_for_held_disk", subject, "move scheduled",
            "refused", "destination has room (%s free for %s) and the "
            "instance's %d GB are already on the sharing provider; only "
            "%d GB free there for a second copy" % (
                dest_free, need, disk, shared_free))]
    return []


# ----------------------------------------------------------------------
# logs
# ----------------------------------------------------------------------
# Generic credential shapes (values already masked as *** are fine).
CREDENTIAL_PATTERNS = {
    "password assignment": re.compile(
        r"(?i)\b(?:password|passwd|secret(?:_key)?)['\"]?\s*[:=]\s*['\"]?"
        r"(?!\*{3}|None\b|<|\s)([^\s'\",;}]{4,})"),
    "credentials in a URL": re.compile(
        r"[a-z][a-z0-9+.-]*://[^/\s:@'\"]+:(?!\*{3})([^@\s/'\"]+)@"),
    "auth token header": re.compile(
        r"(?i)x-(?:auth|subject|service)-token['\"]?\s*[:=]\s*['\"]?"
        r"(?!\*{3}|\{SHA|None\b)([A-Za-z0-9_\-]{8,})"),
}


def secrets_absent(lines: Iterable, secrets: dict) -> list[Violation]:
    """No captured log line contains a planted secret.

    ``lines``: (levelname, logger, text); ``secrets``: where it was
    planted -> the secret.
    """
    out = []
    for level, logger, text in lines:
        for where, secret in sorted(secrets.items()):
            if secret and secret in text:
                out.append(Violation(
                    "secrets_absent", "%s %s" % (level, logger),
                    "no secret", "secret of %s" % where,
                    _excerpt(text, secret)))
    return out


def credentials_absent(lines: Iterable) -> list[Violation]:
    """No captured log line has the shape of an unmasked credential."""
    out = []
    for level, logger, text in lines:
        for what, pattern in CREDENTIAL_PATTERNS.items():
            m = pattern.search(text)
            if m:
                out.append(Violation(
                    "credentials_absent", "%s %s" % (level, logger),
                    "no %s" % what, what, _excerpt(text, m.group(0))))
    return out


def error_logs_name_hosts(lines: Iterable, identifiers: dict,
                          loggers: Iterable[str] = ("",),
                          min_level: int = 40) -> list[Violation]:
    """Error records of the given loggers name no host or node.

    ``lines``: (levelno, levelname, logger, text); ``identifiers``: kind
    ("host", "node") -> names.  A logger matches by prefix.
    """
    loggers = tuple(loggers)
    out = []
    for levelno, level, logger, text in lines:
        if levelno < min_level or not logger.startswith(loggers):
            continue
        found = sorted("%s %s" % (kind, name)
                       for kind, names in identifiers.items()
                       for name in names if _word(name, text))
        if found:
            out.append(Violation(
                "error_logs_name_hosts", "%s %s" % (level, logger),
                "no host or node identifiers", found, text[:300]))
    return out


def identifier_inventory(lines: Iterable, identifiers: dict) -> dict:
    """How many records name each kind of identifier, by level and logger:
    ``{"LEVEL logger": {kind: records}}`` (a summary, not a check)."""
    table: dict = {}
    for levelno, level, logger, text in lines:
        for kind, names in identifiers.items():
            if any(_word(n, text) for n in names):
                row = table.setdefault("%s %s" % (level, logger), {})
                row[kind] = row.get(kind, 0) + 1
    return dict(sorted(table.items()))


def _word(name: str, text: str) -> bool:
    return re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(name),
                     text) is not None


def _excerpt(text: str, needle: str, width: int = 80) -> str:
    i = text.find(needle)
    if i < 0:
        return text[:2 * width]
    return text[max(0, i - width):i + len(needle) + width]


def ordinary_lines_naming(lines: Iterable, names: Iterable[str],
                          loggers: Iterable[str] = ("nova.",),
                          max_level: int = 20) -> dict:
    """How many ordinary records (level ``max_level`` or below: INFO and
    DEBUG; of the given loggers, by prefix) name each of ``names`` as a
    whole word: ``{name: records}``.

    ``lines``: (levelno, levelname, logger, text)."""
    loggers = tuple(loggers)
    names = list(names)
    out = {n: 0 for n in names}
    for levelno, _level, logger, text in lines:
        if levelno > max_level or not logger.startswith(loggers):
            continue
        first = text.split("\n")[0]
        for n in names:
            if _word(n, first):
                out[n] += 1
    return out


def error_logs_reveal_nothing_new(lines: Iterable, identifiers: dict,
                                  loggers: Iterable[str] = ("",),
                                  ordinary_loggers: Iterable[str] = (
                                      "nova.",),
                                  min_level: int = 40) -> list[Violation]:
    """Error records of ``loggers`` name no host or node that Nova's
    ordinary records (INFO/DEBUG of ``ordinary_loggers``) of the same run
    do not already name.

    A name an error line shares with ordinary lines tells a log reader
    nothing new; a name only error lines carry does.  ``identifiers``:
    kind ("host", "node") -> names.  Each violation's detail counts the
    ordinary lines that name each identifier."""
    lines = list(lines)
    named = error_logs_name_hosts(lines, identifiers, loggers, min_level)
    if not named:
        return []
    everything = sorted({n for names in identifiers.values() for n in names})
    ordinary = ordinary_lines_naming(lines, everything, ordinary_loggers)
    out = []
    for v in named:
        only_here = [ident for ident in v.actual
                     if not ordinary[ident.split(" ", 1)[1]]]
        if only_here:
            out.append(Violation(
                "error_logs_reveal_nothing_new", v.subject,
                "only identifiers ordinary INFO/DEBUG lines also show",
                only_here, "%s [ordinary lines naming each: %s]" % (
                    v.detail, ordinary)))
    return out


def cause_reported(cause: str | None, seen: str | None,
                   subject: str = "operation", recorded: str = ""
                   ) -> list[Violation]:
    """The caller sees the error that made the operation fail.

    ``cause``: the exception type that failed the operation, as observed
    at a boundary (e.g. the scheduler raised NoValidHost), or None when
    nothing failed there; ``seen``: the exception type the caller got;
    ``recorded``: what was recorded for the user (an instance fault's
    message), for the evidence."""
    if cause is None or seen == cause:
        return []
    return [Violation(
        "cause_reported", subject, "caller sees %s" % cause,
        "caller sees %s" % (seen or "no error"),
        "the failure's cause was replaced%s" % (
            "; recorded for the user: %s" % recorded if recorded else ""))]
