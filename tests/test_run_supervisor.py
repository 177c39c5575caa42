"""The supervisor of `yinshi run`: restarts what dies, stops what runs; and its refusals."""

import asyncio
import os
import subprocess
import sys
import time

from processes import alive

from yinshi.run import Child, supervise


async def test_a_crashing_child_is_restarted_with_backoff(tmp_path):
    runs = tmp_path / "runs"
    crash = Child(
        "crash", [sys.executable, "-c", f"open({str(runs)!r}, 'a').write('x'); exit(3)"], {}
    )
    stop = asyncio.Event()
    task = asyncio.create_task(supervise([crash], stop, backoff_s=0.2))
    await asyncio.sleep(2.0)  # back-off 0.2, 0.4, 0.8 s: 3 or 4 runs, not dozens
    stop.set()
    await asyncio.wait_for(task, 10)
    assert 3 <= len(runs.read_text()) <= 4


async def test_stop_terminates_running_children(tmp_path):
    pids = tmp_path / "pids"
    code = f"import os, time; open({str(pids)!r}, 'a').write(f'{{os.getpid()}} '); time.sleep(60)"
    sleeper = [sys.executable, "-c", code]
    stop = asyncio.Event()
    task = asyncio.create_task(supervise([Child("a", sleeper, {}), Child("b", sleeper, {})], stop))
    while not pids.exists() or len(pids.read_text().split()) < 2:
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 10)
    for pid in map(int, pids.read_text().split()):
        assert not alive(pid)


def test_run_without_a_model_says_make_model(tmp_path):
    env = {**os.environ, "YINSHI_MODEL_DIR": str(tmp_path / "absent")}
    done = subprocess.run(
        [sys.executable, "-m", "yinshi.cli", "run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert "make model" in done.stderr and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1


def test_children_die_with_a_killed_supervisor(tmp_path):
    """SIGKILL leaves the supervisor no chance to stop its children: the kernel does it."""
    pid_file = tmp_path / "pid"
    script = f"""
import asyncio, sys
from yinshi.run import Child, supervise

code = "import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
asyncio.run(supervise([Child("sleeper", [sys.executable, "-c", code], {{}})], asyncio.Event()))
"""
    supervisor = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 30
        while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        child = int(pid_file.read_text())
    finally:
        supervisor.kill()
        supervisor.wait()
    deadline = time.monotonic() + 10
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(child)
