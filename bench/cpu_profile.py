"""Where a unit spends its CPU: stacks sampled on the process's own CPU clock.

A wall-clock sampler (py-spy) on this 2-core machine under load counts a process as busy
whenever it is runnable, and most of the time the units are runnable but waiting for a core:
its profiles put a fifth of the time in the event loop and in asyncpg's send, where the
process has just woken a PostgreSQL backend and been preempted. Measured: 730 samples at
100 Hz (7.3 s "busy") for a circulation unit that used 2.4 s of CPU. This sampler ticks on
``ITIMER_PROF``, which counts only the CPU the process itself used, so its shares are shares
of CPU. A tick is taken at the next bytecode boundary, so time in C (asyncpg's protocol,
uvloop) goes to the Python frame that called it.

The bench starts each unit with ``ILLFED_CPU_PROFILE=<file>``, sends it ``SIGUSR2`` as the
measured loans begin (the samples so far, of the start and the warm-up, are dropped) and
``SIGUSR1`` as they end: the unit then writes its stacks, folded (``frame;frame;… count``, as
flame graph tools read them).

    python -m bench.cpu_profile FILE [--top 40] [--under FUNCTION]
"""

from __future__ import annotations

import argparse
import atexit
import collections
import os
import signal
from pathlib import Path
from types import FrameType

#: seconds of the process's CPU between two samples
INTERVAL = 0.003
ENV = "ILLFED_CPU_PROFILE"


def _name(frame: FrameType) -> str:
    code = frame.f_code
    where = "/".join(code.co_filename.split("/")[-2:])
    return f"{code.co_qualname} ({where}:{code.co_firstlineno})"


def install(path: str | Path, interval: float = INTERVAL) -> None:
    """Sample this process's main thread every ``interval`` seconds of its CPU; write the
    stacks to ``path`` on ``SIGUSR1`` (every time: a later write holds all samples so far),
    drop those taken so far on ``SIGUSR2``."""
    stacks: collections.Counter[str] = collections.Counter()

    def tick(_signum: int, frame: FrameType | None) -> None:
        names = []
        while frame is not None:
            names.append(_name(frame))
            frame = frame.f_back
        stacks[";".join(reversed(names))] += 1

    def write(_signum: int, _frame: FrameType | None) -> None:
        tmp = f"{path}.tmp"
        with open(tmp, "w") as out:
            for stack, count in stacks.items():
                out.write(f"{stack} {count}\n")
        os.replace(tmp, path)

    signal.signal(signal.SIGPROF, tick)
    signal.signal(signal.SIGUSR1, write)
    signal.signal(signal.SIGUSR2, lambda _s, _f: stacks.clear())
    signal.setitimer(signal.ITIMER_PROF, interval, interval)
    # A tick after the interpreter dropped the handler would kill the process (SIGPROF's
    # default): the timer stops first.
    atexit.register(signal.setitimer, signal.ITIMER_PROF, 0)


def install_from_env() -> None:
    if path := os.environ.get(ENV):
        install(path)


def shares(
    path: str | Path, under: str | None = None, *, own: bool = False
) -> tuple[int, list[tuple[str, float]]]:
    """(samples, [(frame, share of the samples whose stack holds it)…]), largest first;
    ``own``: the share of the samples taken in the frame itself (the innermost one);
    ``under``: only the stacks through a frame whose name holds that text."""
    total = 0
    counted: collections.Counter[str] = collections.Counter()
    for line in Path(path).read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if under and not any(under in f for f in frames):
            continue
        n = int(count)
        total += n
        for frame in frames[-1:] if own else set(frames):
            counted[frame] += n
    return total, [(f, n / total) for f, n in counted.most_common()] if total else []


def telling(ranked: list[tuple[str, float]], count: int) -> list[tuple[str, float]]:
    """The first ``count`` frames that are not one more link of a chain of calls above
    them (a frame within a point of the last one kept: each middleware of a stack that
    every request goes through), nor in nearly every sample (the process, the loop)."""
    out: list[tuple[str, float]] = []
    top = ranked[0][1] if ranked else 0.0
    for frame, share in ranked:
        if share >= top - 0.01 or (out and out[-1][1] - share < 0.01):
            continue
        out.append((frame, share))
        if len(out) == count:
            break
    return out


def folder_env(folder: str | Path | None):
    """What each unit's environment gets for it to sample its stacks into ``folder`` (a file
    for each unit's key), or None when no profile is asked for."""
    if not folder:
        return None
    where = Path(folder).resolve()
    where.mkdir(parents=True, exist_ok=True)
    return lambda key: {ENV: str(where / f"{key}.txt")}


def print_folder(folder: str | Path, count: int = 12) -> None:
    """The frames that take most of each unit's CPU, for every profile in ``folder``."""
    for path in sorted(Path(folder).glob("*.txt")):
        total, ranked = shares(path)
        _, own = shares(path, own=True)
        print(f"CPU profile of {path.stem} ({total} samples, {path}): with what it calls")
        for frame, share in telling(ranked, count):
            print(f"  {100 * share:5.1f}%  {frame}")
        print("  in the frame itself")
        for frame, share in own[:8]:
            print(f"  {100 * share:5.1f}%  {frame}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--under", help="only stacks through a frame whose name holds this")
    parser.add_argument("--own", action="store_true", help="time in the frame itself only")
    args = parser.parse_args(argv)
    total, ranked = shares(args.file, args.under, own=args.own)
    print(f"{total} samples ({total * INTERVAL:.1f} s of CPU)")
    for frame, share in ranked[: args.top]:
        print(f"{100 * share:5.1f}%  {frame}")


if __name__ == "__main__":
    main()
