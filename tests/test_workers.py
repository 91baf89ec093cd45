"""``workers.Workers``: calls run at once on reused daemon threads; idle threads exit."""
from __future__ import annotations

import threading

from helpers import wait_until

from ima2_lib.workers import Workers


def test_a_finished_call_leaves_its_thread_for_the_next_one():
    pool = Workers("t")
    seen = []
    for _ in range(5):
        pool.spawn(lambda: seen.append(threading.get_ident()))()
        wait_until(lambda: len(pool._idle) == 1)  # noqa: SLF001 - back in the pool
    assert pool.started == 1 and len(set(seen)) == 1


def test_calls_never_wait_for_each_other():
    pool = Workers("t")
    release = threading.Event()
    running = []
    for _ in range(4):
        pool.run(lambda: (running.append(1), release.wait(30)))
    wait_until(lambda: len(running) == 4)  # all four block at once: four threads
    assert pool.started == 4
    release.set()


def test_an_idle_thread_exits_and_a_failing_call_is_reported():
    errors = []
    pool = Workers("idle-exit", idle_s=0.05, on_error=errors.append)
    pool.spawn(lambda: 1 / 0)()
    wait_until(lambda: errors and not pool._idle)  # noqa: SLF001 - reported, then gone
    assert isinstance(errors[0], ZeroDivisionError)
    wait_until(lambda: not [t for t in threading.enumerate()
                            if t.name.startswith("idle-exit-")])
    done = []
    pool.spawn(done.append, 1)()
    assert done == [1] and pool.started == 2
