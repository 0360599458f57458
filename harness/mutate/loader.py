"""Serve a mutant file as a Nova module in this process.

``HARNESS_MUTANT`` holds JSON::

    {"id": "D07", "modules": {"nova.compute.resource_tracker": "/tmp/.../resource_tracker.py"},
     "coverage": false}

:func:`install_from_env` (called from ``harness/__init__.py``, so before any
harness code can import Nova) puts a finder first on ``sys.meta_path`` that
answers for exactly those module names with the given files.  The installed
module is therefore never imported in a mutant process; if it already was
(something imported it before the harness), installing fails loudly rather
than judging the real module under a mutant's name.

With ``"coverage": true`` every function and method the served module
defines is wrapped (at run time, the source is untouched) to record its
qualified name in :data:`CALLED` when it runs; the probe plugin reads and
resets that set per scenario.  Wrapping keeps ``__wrapped__``, so
``inspect.getsource`` still shows the file's own code.
"""
from __future__ import annotations

import functools
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
import types

ENV = "HARNESS_MUTANT"

#: module name -> file actually served (what the probe reports back)
SERVED: dict[str, str] = {}
#: qualified names ("ResourceTracker.instance_claim") called since reset
CALLED: set[str] = set()
_SPEC: dict | None = None


class MutantLoadError(RuntimeError):
    """The mutant cannot be served (bad spec, or the real module is already
    imported in this process)."""


def spec() -> dict | None:
    return _SPEC


class _Loader(importlib.machinery.SourceFileLoader):
    def __init__(self, fullname, path, coverage):
        super().__init__(fullname, path)
        self._coverage = coverage

    def exec_module(self, module):
        super().exec_module(module)
        SERVED[module.__name__] = self.path
        if self._coverage:
            _instrument(module)


class _Finder(importlib.abc.MetaPathFinder):
    def __init__(self, modules: dict[str, str], coverage: bool):
        self.modules = modules
        self.coverage = coverage

    def find_spec(self, fullname, path=None, target=None):
        file = self.modules.get(fullname)
        if file is None:
            return None
        loader = _Loader(fullname, file, self.coverage)
        return importlib.util.spec_from_file_location(fullname, file,
                                                      loader=loader)


def parse(text: str) -> dict:
    try:
        data = json.loads(text)
        modules = data["modules"]
        assert isinstance(modules, dict) and modules
    except (ValueError, KeyError, TypeError, AssertionError):
        raise MutantLoadError(
            "%s is not a mutant spec (JSON with a non-empty 'modules' map); "
            "unset it or let 'python -m harness mutate' set it" % ENV) \
            from None
    for name, file in modules.items():
        if not os.path.isfile(file):
            raise MutantLoadError("%s names %s for %s, which does not exist"
                                  % (ENV, file, name))
    return data


def install(data: dict) -> None:
    """Serve ``data['modules']`` from now on in this process."""
    global _SPEC
    if any(isinstance(f, _Finder) for f in sys.meta_path):
        return
    early = [m for m in data["modules"] if m in sys.modules]
    if early:
        raise MutantLoadError(
            "%s was imported before the mutant loader was installed; a "
            "mutant process must not import Nova before 'import harness'"
            % ", ".join(early))
    sys.meta_path.insert(0, _Finder(dict(data["modules"]),
                                    bool(data.get("coverage"))))
    _SPEC = data


def install_from_env() -> None:
    text = os.environ.get(ENV)
    if text:
        install(parse(text))


def _instrument(module: types.ModuleType) -> None:
    """Wrap the module's own functions and its classes' methods so a call
    records the qualified name in :data:`CALLED`."""
    name = module.__name__

    def wrap(fn, qualname):
        @functools.wraps(fn)
        def recorder(*args, **kwargs):
            CALLED.add(qualname)
            return fn(*args, **kwargs)
        return recorder

    for attr, obj in list(vars(module).items()):
        if isinstance(obj, types.FunctionType) and obj.__module__ == name:
            setattr(module, attr, wrap(obj, attr))
        elif isinstance(obj, type) and obj.__module__ == name:
            for meth, fn in list(vars(obj).items()):
                if isinstance(fn, types.FunctionType):
                    setattr(obj, meth, wrap(fn, "%s.%s" % (attr, meth)))
