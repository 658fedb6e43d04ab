"""The DES at scale: memory linear in the number of machines (lamport.des.size) and a
machine's send targets worked out per send above :data:`lamport.core.KEPT_TARGETS`."""

from __future__ import annotations

import pytest

from lamport import core
from lamport.config import RunConfig
from lamport.core import Machine
from lamport.des.model import simulate

# -- send targets --------------------------------------------------------------------------


@pytest.mark.parametrize("n", [2, 3, 7, 70])
def test_targets_worked_out_per_send_are_the_kept_ones(n):
    for me in (0, n // 2, n - 1):
        kept = [((p,), str(p)) for p in range(n) if p != me]
        everyone = tuple(p for p in range(n) if p != me)
        kept.append((everyone, "+".join(map(str, everyone))))
        targets = core._Targets(me, n)
        assert [targets[action] for action in range(n - 1)] + [targets[-1]] == kept


@pytest.mark.parametrize(
    ("rates", "p_send"),
    [((1, 3, 6), 0.9), ((5, 3, 2, 4, 1, 6, 2), 0.6), (tuple(range(1, 7)) * 12, 0.3)],
)
def test_a_run_is_the_same_whichever_way_targets_are_found(monkeypatch, rates, p_send):
    config = RunConfig(rates=rates, p_send=p_send, duration=20 if len(rates) < 10 else 3, seed=4)
    monkeypatch.setattr(core, "KEPT_TARGETS", 10**9)
    kept = simulate(config)
    monkeypatch.setattr(core, "KEPT_TARGETS", 0)
    assert type(Machine(0, len(rates), 0.3, lambda: 0.5)._targets) is core._Targets
    worked_out = simulate(config)
    assert worked_out.logs == kept.logs
    assert sum(1 for log in kept.logs for e in log if "+" in e.peer) > 0  # broadcasts ran


def test_a_large_machine_keeps_no_list_of_its_peers():
    machine = Machine(5, 10_000, 0.3, lambda: 0.0)
    assert isinstance(machine._targets, core._Targets)
    assert machine.peers == tuple(i for i in range(10_000) if i != 5)
    # labels and ids are the run's, shared by every machine
    assert Machine(6, 10_000, 0.3, lambda: 0.0)._labels is machine._labels
