"""Shared fixtures for the harness's self-tests.

A world costs about half a second to build; fixtures here build the common
shapes (empty, with flavors, with an instance resized and awaiting confirm)
so each test only pays for what it uses.
"""
from __future__ import annotations

import logging

import pytest

from harness.oracle.logs import LogCapture
from harness.world.deployment import World

# Flavors used throughout: no swap, so the tracker's integer disk counter
# holds exactly what the ledger expects (see test_world's swap test).
SMALL = dict(vcpus=1, memory_mb=512, root_gb=10)
BIG = dict(vcpus=2, memory_mb=1024, root_gb=20)


def build_world(**kwargs) -> World:
    w = World(**kwargs)
    w.setUp()
    return w


@pytest.fixture
def world():
    """An empty world: hosts src, dst and bystander, no flavors."""
    w = build_world()
    yield w
    w.cleanUp()


@pytest.fixture
def flavored(world):
    """The world with flavors ``small`` and ``big``."""
    world.create_flavor("small", **SMALL)
    world.create_flavor("big", **BIG)
    return world


@pytest.fixture
def booted(flavored):
    """``vm1`` (small) running on src."""
    flavored.boot("vm1", "small", "src")
    return flavored


@pytest.fixture
def resized(booted):
    """``vm1`` resized small -> big from src to dst, awaiting confirm."""
    booted.resize("vm1", "big", "dst")
    return booted


@pytest.fixture
def logs():
    """Every log record emitted during the test."""
    cap = LogCapture(level=logging.DEBUG)
    cap.setUp()
    yield cap
    cap.cleanUp()
