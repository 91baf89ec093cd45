"""Benchmark helper: ``python3 ima2.py serve`` under a wall-clock sampling profiler.

Run as ``python3 tests/bench/profiled_serve.py OUT.txt serve [args]`` (the bench scripts do
this when ``BENCH_PROFILE=OUT.txt`` is set). A thread samples every thread's stack each
``BENCH_PROFILE_INTERVAL`` seconds (default 0.5 ms) with ``sys._current_frames`` and, at
exit, writes the functions by inclusive and by leaf samples, plus the collapsed stacks (one
``frame;frame;... count`` line each, for a flame graph). Wall-clock samples show where the
request threads *wait* (locks, fsync, sockets) as well as where they compute, which cProfile
(one thread, CPU-centred) does not. Bench-only: product code knows nothing of it.
"""
from __future__ import annotations

import atexit
import collections
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def label(frame) -> str:  # type: ignore[no-untyped-def]
    code = frame.f_code
    name = code.co_filename
    if name.startswith(ROOT):
        name = name[len(ROOT) + 1:]
    else:
        name = os.path.basename(name)
    return "%s:%s:%d" % (name, code.co_name, frame.f_lineno)


def cpu_profile(out: str) -> None:
    """``BENCH_PROFILE_MODE=cpu``: cProfile in every thread with the thread's own CPU clock
    (``time.thread_time``), merged at exit: where the CPU goes, waits excluded."""
    import cProfile
    import pstats

    profiles = []
    lock = threading.Lock()
    original = threading.Thread.run

    def run(self):  # type: ignore[no-untyped-def]
        profile = cProfile.Profile(time.thread_time)
        with lock:
            profiles.append(profile)
        profile.enable()
        try:
            original(self)
        finally:
            profile.disable()

    threading.Thread.run = run  # type: ignore[method-assign]
    main_profile = cProfile.Profile(time.thread_time)
    profiles.append(main_profile)

    def dump() -> None:
        main_profile.disable()
        with lock:
            items = list(profiles)
        stats = None
        for profile in items:
            try:
                profile.create_stats()
            except Exception:  # noqa: BLE001 - a thread still running
                continue
            if stats is None:
                stats = pstats.Stats(profile)
            else:
                stats.add(profile)
        with open(out, "w") as handle:
            if stats is not None:
                stats.stream = handle  # type: ignore[attr-defined]
                stats.sort_stats("tottime").print_stats(60)
                stats.sort_stats("cumulative").print_stats(80)

    atexit.register(dump)
    main_profile.enable()


def main() -> None:
    out = sys.argv[1]
    if os.environ.get("BENCH_PROFILE_MODE") == "cpu":
        cpu_profile(out)
        sys.path.insert(0, ROOT)
        from ima2_lib import cli

        code = cli.main(sys.argv[2:])
        sys.exit(code or 0)
    interval = float(os.environ.get("BENCH_PROFILE_INTERVAL", "0.0005"))
    stacks: "collections.Counter[tuple]" = collections.Counter()
    stop = threading.Event()
    me = []

    def sample() -> None:
        me.append(threading.get_ident())
        while not stop.is_set():
            for ident, frame in sys._current_frames().items():
                if ident == me[0]:
                    continue
                chain = []
                while frame is not None and len(chain) < 60:
                    chain.append(label(frame))
                    frame = frame.f_back
                stacks[tuple(reversed(chain))] += 1
            time.sleep(interval)

    def dump() -> None:
        stop.set()
        inclusive: "collections.Counter[str]" = collections.Counter()
        leaf: "collections.Counter[str]" = collections.Counter()
        busy = 0
        for chain, count in stacks.items():
            for name in set(part.rsplit(":", 1)[0] for part in chain):
                inclusive[name] += count
            leaf[chain[-1]] += count
            busy += count
        with open(out, "w") as handle:
            handle.write("samples %d (interval %.4f s)\n\n== inclusive\n" % (busy, interval))
            for name, count in inclusive.most_common(120):
                handle.write("%7d  %s\n" % (count, name))
            handle.write("\n== leaf\n")
            for name, count in leaf.most_common(80):
                handle.write("%7d  %s\n" % (count, name))
            handle.write("\n== stacks\n")
            for chain, count in stacks.most_common():
                handle.write("%s %d\n" % (";".join(chain), count))

    threading.Thread(target=sample, name="bench-sampler", daemon=True).start()
    atexit.register(dump)
    sys.path.insert(0, ROOT)
    from ima2_lib import cli

    sys.argv = ["ima2.py"] + sys.argv[2:]
    code = cli.main(sys.argv[1:])
    dump()
    stop.set()
    os._exit(code or 0)


if __name__ == "__main__":
    main()
