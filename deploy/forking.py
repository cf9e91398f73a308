"""Many units from one import: `make up` starts one process that imports every service once
and forks a process per unit from it, sharing the imported code copy-on-write.

Importing the services costs seconds of CPU per process; sixteen separate interpreters paid it
sixteen times over before the federation answered. Each unit still runs in its own process with
its own event loop, connections and environment, as it would in a container.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import signal
import sys
import traceback
from collections.abc import Callable

UNITS_ENV = "ILLFED_UNITS_ENV"
SERVICES = ("catalog", "circulation", "notifier", "requests")


def _die_with_parent() -> None:
    """Ask Linux to send SIGTERM when the parent ends, however it ends (even killed), so that
    no unit outlives the launcher and holds its ports and its output pipe."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: Ctrl-C and SIGTERM still stop them
        pass


def preload() -> None:
    for service in SERVICES:
        importlib.import_module(f"services.{service}.app")
        importlib.import_module(f"services.{service}.runtime")
    importlib.import_module("libs.common.process")


def serve_forked(keys: list[str], serve: Callable[[str], None]) -> int:
    """Fork one child per unit key, each running ``serve(key)`` with its own environment from
    ``ILLFED_UNITS_ENV`` (JSON: key -> variables). Returns when every child has ended: on
    SIGTERM or SIGINT the children are told to stop; when one ends by itself, the rest are."""
    envs = json.loads(os.environ.pop(UNITS_ENV, "{}"))
    _die_with_parent()
    parent = os.getppid()
    preload()
    children: dict[int, str] = {}
    stopping = False

    def stop_all(*_: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop_all)
    signal.signal(signal.SIGINT, stop_all)
    if os.getppid() != parent:  # the launcher ended while this process was importing
        return 1
    for key in keys:
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            _die_with_parent()
            code = 0
            try:
                os.environ.update(envs.get(key, {}))
                serve(key)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                traceback.print_exc()
                code = 1
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)
        children[pid] = key
    worst = 0
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        key = children.pop(pid, None)
        code = os.waitstatus_to_exitcode(status)
        if key and not stopping:
            print(f"{key} exited with code {code}; stopping the others", file=sys.stderr)
            worst = worst or 1
            stop_all()
    return worst
