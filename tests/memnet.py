"""An in-memory network of core machines, for unit and property tests.

Like h11's ConnectionPair: no backend at all, just core machines and a list of
messages in flight that a test delivers in whatever order it likes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lamport.core import Event, Machine, Message


@dataclass
class Draw:
    """A draw source whose next value the test sets before each tick."""

    value: float = 0.99
    taken: int = 0

    def __call__(self) -> float:
        self.taken += 1
        return self.value


@dataclass
class InMemoryNetwork:
    n: int
    p_send: float = 0.3
    machines: list[Machine] = field(init=False)
    draws: list[Draw] = field(init=False)
    in_flight: list[tuple[int, Message]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.draws = [Draw() for _ in range(self.n)]
        self.machines = [Machine(i, self.n, self.p_send, self.draws[i]) for i in range(self.n)]

    def tick(self, machine: int, u: float = 0.99, t: float = 0.0) -> Event:
        """Tick a machine with draw ``u``; put what it sends in flight."""
        self.draws[machine].value = u
        record, outgoing = self.machines[machine].tick(t, t)
        if outgoing is not None:
            for recipient in outgoing.recipients:
                self.in_flight.append((recipient, outgoing.message))
        self.events.append(record)
        return record

    def deliver(self, index: int = 0) -> tuple[int, Message]:
        """Hand the ``index``-th message in flight to its recipient."""
        recipient, message = self.in_flight.pop(index)
        self.machines[recipient].deliver(message)
        return recipient, message
