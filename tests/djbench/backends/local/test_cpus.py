"""CPU placement on this machine: the server's CPUs, the rest, and a budget's pinned CPUs."""

from __future__ import annotations

import os

import pytest

from djbench.backends.local.cpus import CpuLayout, plan_cpus
from djbench.model.errors import DjbenchError


def test_a_budget_runs_on_as_many_whole_cpus_as_it_needs() -> None:
    layout = CpuLayout(server=(2, 3), infra=(0, 1))
    assert layout.pinned(0.5) == (2,)
    assert layout.pinned(1.0) == (2,)
    assert layout.pinned(1.5) == (2, 3)
    assert layout.pinned(2.0) == (2, 3)
    with pytest.raises(DjbenchError, match=r"cpus: 2\.5 needs 3 CPUs for the server"):
        layout.pinned(2.5)


def test_the_server_gets_more_cpus_only_where_one_is_left_for_the_load() -> None:
    usable = sorted(os.sched_getaffinity(0))
    assert plan_cpus(1).server == (usable[-1],)
    with pytest.raises(DjbenchError, match="leave none of this machine's"):
        plan_cpus(max(2, len(usable)))
    with pytest.raises(DjbenchError, match="at least one CPU"):
        plan_cpus(0)
