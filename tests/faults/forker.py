"""One process that imports the federation's services once and forks a process per unit on
request, the way ``python -m deploy.launch up`` starts its units (``deploy.forking``), but one
at a time and again after a unit was killed: a restarted unit is back in a second or two
instead of paying the imports again.

    python -m tests.faults.forker

Reads one JSON object a line on standard input, ``{"argv": [...], "env": {...}, "log":
path}``, forks a child that runs ``python -m deploy.launch <argv>`` with ``env`` added and
its output appended to ``log``, and answers the child's pid on a line of standard output.
The children are real OS processes: the test kills them by pid. When standard input closes
(the test ended, however it ended) every child is stopped.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import traceback

from bench.cpu_profile import install_from_env
from deploy.forking import _die_with_parent, preload

children: set[int] = set()


def _reap(*_: object) -> None:
    # Reaped as soon as they end: a killed unit leaves no zombie behind its pid.
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        children.discard(pid)


def _child(order: dict) -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    _die_with_parent()
    code = 0
    try:
        fd = os.open(order["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        with contextlib.suppress(OSError):
            os.close(0)
        os.environ.update(order["env"])
        install_from_env()  # when the bench asked for this unit's CPU profile
        from deploy.launch import main

        main(order["argv"])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


def main() -> None:
    _die_with_parent()
    preload()
    signal.signal(signal.SIGCHLD, _reap)
    print("ready", flush=True)
    for line in sys.stdin:
        order = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(order)
        children.add(pid)
        print(pid, flush=True)
    for pid in list(children):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    while children:
        try:
            pid, _ = os.wait()
        except ChildProcessError:
            break
        children.discard(pid)


if __name__ == "__main__":
    main()
