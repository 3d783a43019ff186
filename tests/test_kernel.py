"""The extension in a real Jupyter kernel (ipykernel through jupyter_client):
error replies, interrupts and restarts in the middle of a run."""
from __future__ import annotations

import os
import time

import pytest

from jupyter_client.manager import KernelManager

# A primitive that records each call in a file and takes a while: heavy, so
# stored and claimed like any expensive task.
SLOW = """
import time, voxlogica_nb
@voxlogica_nb.primitive("(num) -> num", version="1")
def slow_square(x):
    with open("calls.log", "a") as f:
        f.write(f"{x}\\n")
    time.sleep(0.4)
    return x * x
"""
N = 16
PROGRAM = "%%voxlogica -o r\n" + "\n".join(f'print "s{i}" slow_square({i})' for i in range(N))


class Kernel:
    def __init__(self, cwd, cache):
        self.km = KernelManager(kernel_name="python3")
        env = dict(os.environ, VOXLOGICA_CACHE_DIR=str(cache))
        self.km.start_kernel(cwd=str(cwd), env=env)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)

    def run(self, code, timeout=60):
        """Execute ``code``; returns (reply content, iopub messages)."""
        msgs = []
        reply = self.kc.execute_interactive(code, timeout=timeout, output_hook=msgs.append,
                                            allow_stdin=False)
        return reply["content"], msgs

    def start(self, code):
        return self.kc.execute(code)

    def reply(self, msg_id, timeout):
        deadline = time.monotonic() + timeout
        while True:
            msg = self.kc.get_shell_msg(timeout=max(0.1, deadline - time.monotonic()))
            if msg["parent_header"].get("msg_id") == msg_id:
                return msg["content"]

    def close(self):
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


def text_of(msgs):
    out = []
    for m in msgs:
        c = m["content"]
        if m["msg_type"] == "stream":
            out.append(c["text"])
        elif m["msg_type"] in ("display_data", "execute_result", "update_display_data"):
            out.append(c["data"].get("text/plain", ""))
        elif m["msg_type"] == "error":
            out.extend(c["traceback"])
    return "\n".join(out)


@pytest.fixture
def kernel(tmp_path):
    k = Kernel(tmp_path, tmp_path / "cache")
    k.run("%load_ext voxlogica_nb")
    yield k
    k.close()


def calls(tmp_path):
    path = tmp_path / "calls.log"
    return path.read_text().split() if path.exists() else []


def wait_no_claims(kernel, timeout=15):
    deadline = time.monotonic() + timeout
    while True:
        _, msgs = kernel.run("%voxlogica_cache running")
        text = text_of(msgs)
        if "no task is running" in text or time.monotonic() > deadline:
            return text
        time.sleep(0.3)


def test_error_cell_replies_error_with_short_traceback(kernel):
    reply, msgs = kernel.run('%%voxlogica\nlet a = 1\nprint "x" a .+. nope')
    assert reply["status"] == "error"
    (err,) = [m["content"] for m in msgs if m["msg_type"] == "error"]
    tb = "\n".join(err["traceback"])
    assert ":2:" in tb and "^" in tb and "unknown name `nope`" in tb
    assert "voxlogica_nb/" not in tb and "Traceback" not in tb
    assert len(err["traceback"]) <= 4
    reply, msgs = kernel.run('%%voxlogica\nprint "ok" 1 .+. 1')
    assert reply["status"] == "ok" and "ok=2.0" in text_of(msgs)


def test_interrupt_stops_the_cell_and_releases_claims(kernel, tmp_path):
    kernel.run(SLOW)
    kernel.run("%config VoxLogicA.jobs = 2")
    msg_id = kernel.start(PROGRAM)
    deadline = time.monotonic() + 30
    while len(calls(tmp_path)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    t0 = time.monotonic()
    kernel.km.interrupt_kernel()
    reply = kernel.reply(msg_id, timeout=10)
    assert time.monotonic() - t0 < 3
    assert reply["status"] == "error"
    assert len(calls(tmp_path)) < N  # it really stopped
    reply, msgs = kernel.run('%%voxlogica\nprint "next" 2 .*. 3')
    assert reply["status"] == "ok" and "next=6.0" in text_of(msgs)
    assert "no task is running" in wait_no_claims(kernel)
    done_before = len(calls(tmp_path))
    reply, msgs = kernel.run(PROGRAM + "\n", timeout=60)
    assert reply["status"] == "ok"
    reply, msgs = kernel.run("print(r.stats['cached'], r['s5'])")
    cached, s5 = text_of(msgs).split()
    assert float(s5) == 25.0
    assert int(cached) >= done_before - 2  # what was committed is reused (at most the jobs in flight redone)
    assert len(calls(tmp_path)) == done_before + (N - int(cached))


def test_restart_mid_run_reports_dangling_and_reuses_committed(tmp_path):
    k = Kernel(tmp_path, tmp_path / "cache")
    try:
        k.run("%load_ext voxlogica_nb")
        k.run(SLOW)
        k.run("%config VoxLogicA.jobs = 2")
        k.start(PROGRAM)
        deadline = time.monotonic() + 30
        while len(calls(tmp_path)) < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
        k.km.restart_kernel(now=True)  # SIGKILL in the middle of the run
        k.kc.wait_for_ready(timeout=60)
        before = len(calls(tmp_path))
        reply, msgs = k.run("%load_ext voxlogica_nb")
        text = text_of(msgs)
        assert "cleared" in text and "dangling" in text and "slow_square" in text
        assert len(text.strip().splitlines()) == 1
        k.run(SLOW)
        reply, msgs = k.run(PROGRAM + "\n", timeout=60)
        assert reply["status"] == "ok", text_of(msgs)
        reply, msgs = k.run("print(r.stats['cached'], r.stats['computed'], [r[f's{i}'] for i in range(16)])")
        out = text_of(msgs)
        cached, computed = map(int, out.split()[:2])
        assert f"{[float(i * i) for i in range(N)]}" in out
        assert cached >= before - 2 and cached + computed >= N
        assert len(calls(tmp_path)) - before == N - cached  # committed tasks were not recomputed
    finally:
        k.close()
