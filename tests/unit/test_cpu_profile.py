"""The bench's CPU profile counts a process's CPU, not its waiting, and forgets on request."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bench.cpu_profile import shares

ROOT = Path(__file__).resolve().parents[2]

PROGRAM = """
import os, signal, time
from bench.cpu_profile import install

def burn(seconds):
    end = time.process_time() + seconds
    while time.process_time() < end:
        sum(range(1000))

def warm_up():
    burn(0.2)

def busy():
    burn(0.3)

def idle():
    time.sleep(0.6)

install({path!r}, interval=0.002)
warm_up()
os.kill(os.getpid(), signal.SIGUSR2)  # what came before is not counted
busy()
idle()
os.kill(os.getpid(), signal.SIGUSR1)
"""


def test_samples_follow_cpu_time_and_start_again_on_usr2(tmp_path):
    path = tmp_path / "unit.txt"
    subprocess.run(
        [sys.executable, "-c", PROGRAM.format(path=str(path))],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=True,
        timeout=60,
    )
    total, ranked = shares(path)
    share = {frame.split(" ")[0]: s for frame, s in ranked}
    # 0.3 s of CPU at one sample each 2 ms of it; the timer is coarse on a busy machine.
    assert total >= 40
    assert share["busy"] > 0.9
    # Twice as long asleep as busy, and no samples there: a wall-clock sampler counts it.
    assert share.get("idle", 0.0) < 0.05
    assert "warm_up" not in share
    # Only the stacks through a frame, when asked.
    under, _ = shares(path, under="busy")
    assert under >= 0.9 * total
