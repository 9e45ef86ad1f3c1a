# Copyright (c) 2026 hive.swarm contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side polling for the action plugins: read a fact again and again until a verdict is satisfied or a
deadline passes. Never a fixed sleep: the first re-read comes after half a second, later ones back off to
``delay``."""

from __future__ import annotations

import time
from typing import Callable, Optional, Tuple, TypeVar

T = TypeVar("T")


def poll(read: Callable[[], T], problem: Callable[[T], str], timeout: float, delay: float = 2.0,
         clock: Optional[Callable[[], float]] = None, sleep: Optional[Callable[[float], None]] = None
         ) -> Tuple[T, str, float]:
    """Call ``read`` until ``problem(value)`` is '' or ``timeout`` seconds passed.

    Returns ``(last value, its problem ('' when satisfied), seconds waited)``. ``read`` may raise to stop at
    once (a host that cannot be reached). ``clock``/``sleep`` default to ``time.monotonic``/``time.sleep``."""
    clock = clock or time.monotonic
    sleep = sleep or time.sleep
    start = clock()
    deadline = start + max(float(timeout), 0.0)
    delay = max(float(delay), 0.1)
    pause = min(0.5, delay)
    while True:
        last = read()
        why = problem(last)
        remaining = deadline - clock()
        if not why or remaining <= 0:
            return last, why, clock() - start
        sleep(min(pause, remaining))
        pause = min(pause * 2, delay)
