"""plugin_utils/_poll.poll: reads until satisfied or the deadline, backing off, without real sleeps."""

from __future__ import annotations

from ansible_collections.hive.swarm.plugins.plugin_utils._poll import poll


class Clock:
    def __init__(self) -> None:
        self.t = 0.0
        self.pauses: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.t += seconds


def test_returns_at_once_when_satisfied() -> None:
    clock = Clock()
    assert poll(lambda: 1, lambda v: "", 10, clock=clock.now, sleep=clock.sleep) == (1, "", 0.0)
    assert clock.pauses == []


def test_backs_off_to_the_delay_and_stops_when_satisfied() -> None:
    clock = Clock()
    values = iter(range(10))
    value, why, waited = poll(lambda: next(values), lambda v: "" if v == 4 else f"{v} < 4", 60, delay=2,
                              clock=clock.now, sleep=clock.sleep)
    assert (value, why) == (4, "") and clock.pauses == [0.5, 1.0, 2.0, 2.0] and waited == 5.5


def test_gives_up_at_the_deadline_with_the_last_problem() -> None:
    clock = Clock()
    value, why, waited = poll(lambda: "down", lambda v: f"node is {v}", 3, delay=2, clock=clock.now,
                              sleep=clock.sleep)
    assert (value, why, waited) == ("down", "node is down", 3.0) and clock.pauses == [0.5, 1.0, 1.5]
