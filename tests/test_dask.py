"""The dask.distributed backend: the same programs, results and store on a
cluster of two worker processes (one ``LocalCluster`` for the module)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed")

import _daskprims  # noqa: E402  (registers the test primitives here; workers get it by upload_file)
import voxlogica_nb as vx  # noqa: E402
from voxlogica_nb import data  # noqa: E402
from voxlogica_nb.engine import distributed as backend  # noqa: E402
from voxlogica_nb.session import Session  # noqa: E402

HERE = Path(__file__).resolve().parent
SCANS = 20


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            client.upload_file(str(HERE / "_daskprims.py"))
            yield cluster


@pytest.fixture
def address(cluster):
    return cluster.scheduler_address


@pytest.fixture(scope="module")
def scans(tmp_path_factory):
    """A folder of ``SCANS`` small synthetic FLAIR scans, scan00.nii.gz … scan19.nii.gz."""
    folder = tmp_path_factory.mktemp("scans")
    work = tmp_path_factory.mktemp("phantoms")
    for n in range(SCANS):
        paths = data.write_phantom(str(work / str(n)), size=(32, 32, 20), seed=n)
        os.replace(paths["flair"], folder / f"scan{n:02d}.nii.gz")
    return str(folder)


def dataset_program(folder, log, out):
    """One pipeline per scan; the loops share each scan's tasks (a loop over
    ``scans`` expands from the file list, as one over ``files`` does)."""
    return (f'load first = "{folder}/scan00.nii.gz"\n'
            f'let scan(f) = dask_seen("{log}", intensity(load(f)))\n'
            'let lesion(s) = maxvol(s >. 0.6)\n'
            f'let files = dir("{folder}", "*.nii.gz")\n'
            'let scans = for f in files do scan(f)\n'
            'print "lesion" for s in scans do volume(lesion(s))\n'
            'print "air" for s in scans do volume(touch(s <. 0.1, border))\n'
            'print "mean" for f in files do avg(scan(f), lesion(scan(f)))\n'
            f'save "{out}/lesion.json" for s in scans do volume(lesion(s))\n')


@pytest.fixture
def gated(tmp_path):
    """The log of ``dask_gated`` tasks; their gate opens at the end of the test in any case."""
    log = str(tmp_path / "log")
    yield log
    Path(log + ".open").touch()


def wanters(address, op):
    """{key: number of clients wanting it} of the scheduler's ``op`` tasks."""
    def count(dask_scheduler, op=op):
        return {k: len(ts.who_wants or ()) for k, ts in dask_scheduler.tasks.items()
                if str(k).startswith(f"{op}-")}

    with distributed.Client(address) as c:
        return c.run_on_scheduler(count)


def wait_for(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def in_thread(fn):
    """Run ``fn`` in a thread; returns {"thread", "value" | "error"}."""
    out: dict = {}

    def body():
        try:
            out["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            out["error"] = exc

    out["thread"] = threading.Thread(target=body, daemon=True)
    out["thread"].start()
    return out


def test_the_dataset_program_gives_the_same_output_on_the_cluster(address, scans, tmp_path):
    log = str(tmp_path / "log")
    events = []
    on_cluster = vx.run(dataset_program(scans, log, tmp_path / "cluster"), backend="dask", scheduler=address,
                        cache_dir=str(tmp_path / "store-cluster"), observers=[events.append])
    seen = _daskprims.lines(log)
    local = vx.run(dataset_program(scans, log, tmp_path / "local"), jobs=2, cache_dir=str(tmp_path / "store-local"))

    assert on_cluster.ok and local.ok, (on_cluster.failures, local.failures)
    assert on_cluster.printed == local.printed
    assert len(on_cluster["lesion"]) == SCANS and min(on_cluster["lesion"]) > 0
    assert on_cluster.warnings == local.warnings
    assert (tmp_path / "cluster/lesion.json").read_text() == (tmp_path / "local/lesion.json").read_text()
    # each scan's shared task ran once, on the workers
    assert sorted(arg for _op, arg, _pid in seen) == sorted(set(arg for _op, arg, _pid in seen))
    assert len(seen) == SCANS and os.getpid() not in {pid for *_, pid in seen}
    # progress: what the plans announced was computed, and said so
    kinds = [e.kind for e in events]
    planned = sum(e.data["compute"] for e in events if e.kind == "plan")
    assert kinds.count("done") == planned == kinds.count("start") > 3 * SCANS
    assert kinds.count("print") == 3 and kinds.count("save") == 1 and kinds[-1] == "finish"
    assert on_cluster.stats["failed"] == 0 and on_cluster.stats["computed"] >= planned


def test_a_store_written_by_the_cluster_serves_a_local_run_and_the_reverse(address, scans, tmp_path):
    log = str(tmp_path / "log")
    goals = "".join(f'print "s{n}" volume(maxvol(dask_seen("{log}", intensity(load("{scans}/scan{n:02d}.nii.gz"))) >. 0.6))\n'
                    for n in range(3))
    store = str(tmp_path / "store")
    first = vx.run(goals, backend="dask", scheduler=address, cache_dir=store)
    assert first.ok and first.stats["computed"] > 0 and len(_daskprims.lines(log)) == 3
    again = vx.run(goals, cache_dir=store)
    assert again.ok and again.printed == first.printed
    assert again.stats["computed"] == 0 and again.stats["cached"] == 3

    # the reverse: what a local run stored, the workers load
    other = goals.replace(">. 0.6", ">. 0.7")
    here = vx.run(other, cache_dir=store)
    assert here.ok and here.stats["computed"] > 0
    plus = vx.run(other.replace(">. 0.7))\n", ">. 0.7)) .+. 1\n"), backend="dask", scheduler=address,
                  cache_dir=store)
    assert plus.ok and [v for _, v in plus.printed] == [v + 1 for _, v in here.printed]
    assert plus.stats["cached"] == 3 and plus.stats["computed"] == 3  # volumes loaded, .+. computed
    assert len(_daskprims.lines(log)) == 3  # no scan was read twice


def test_two_clients_at_once_run_each_task_once(address, gated):
    log = gated
    prog = f'print "v" for i in range(0, 4) do dask_gated("{log}", i)\n'
    runs = [in_thread(lambda: vx.run(prog, backend="dask", scheduler=address, no_cache=True)) for _ in range(2)]
    # both clients submitted every task before any can finish
    wait_for(lambda: sorted(wanters(address, "dask_gated").values()) == [2, 2, 2, 2])
    Path(log + ".open").touch()
    for r in runs:
        r["thread"].join(60)
        assert "error" not in r and r["value"]["v"] == [0.0, 2.0, 4.0, 6.0]
    assert sorted(arg for _op, arg, _pid in _daskprims.lines(log)) == ["0", "1", "2", "3"]


def test_an_interrupted_run_leaves_another_clients_tasks_running(address, gated):
    log = gated
    prog = f'print "v" for i in range(0, 4) do dask_gated("{log}", i)\n'
    cancel = threading.Event()
    stopped = in_thread(lambda: Session(backend="dask", scheduler=address, no_cache=True).run(prog, cancel=cancel))
    going = in_thread(lambda: vx.run(prog, backend="dask", scheduler=address, no_cache=True))
    wait_for(lambda: sorted(wanters(address, "dask_gated").values()) == [2, 2, 2, 2])
    cancel.set()
    stopped["thread"].join(30)
    assert isinstance(stopped.get("error"), KeyboardInterrupt)
    wait_for(lambda: sorted(wanters(address, "dask_gated").values()) == [1, 1, 1, 1])
    Path(log + ".open").touch()
    going["thread"].join(60)
    assert "error" not in going and going["value"]["v"] == [0.0, 2.0, 4.0, 6.0]
    assert len(_daskprims.lines(log)) == 4  # nothing was cancelled and run again


def test_an_interrupted_run_alone_releases_its_tasks(address, gated):
    log = gated
    cancel = threading.Event()
    prog = f'print "v" for i in range(0, 4) do dask_gated("{log}", i)\n'
    stopped = in_thread(lambda: Session(backend="dask", scheduler=address, no_cache=True).run(prog, cancel=cancel))
    wait_for(lambda: len(wanters(address, "dask_gated")) == 4)
    cancel.set()
    stopped["thread"].join(30)
    assert isinstance(stopped.get("error"), KeyboardInterrupt)
    wait_for(lambda: not wanters(address, "dask_gated"))  # forgotten: queued ones never run
    Path(log + ".open").touch()
    wait_for(lambda: len(_daskprims.lines(log, "done")) == len(_daskprims.lines(log)))
    time.sleep(0.5)
    assert len(_daskprims.lines(log)) <= 2  # only those already running (one per worker)


def test_a_worker_killed_mid_task_does_not_lose_the_run(address, tmp_path):
    log = str(tmp_path / "log")
    prog = f'print "v" for i in range(0, 2) do dask_slow("{log}", 2, i)\n'
    run = in_thread(lambda: vx.run(prog, backend="dask", scheduler=address, cache_dir=str(tmp_path / "store")))
    wait_for(lambda: _daskprims.lines(log))
    (_op, victim, pid) = _daskprims.lines(log)[0]
    os.kill(pid, signal.SIGKILL)
    run["thread"].join(120)
    assert "error" not in run, run.get("error")
    r = run["value"]
    assert r.ok and r["v"] == [1.0, 2.0], r.failures
    starts = [(arg, p) for _op, arg, p in _daskprims.lines(log)]
    assert (victim, pid) in starts and [a for a, _p in starts].count(victim) == 2  # run again elsewhere
    assert (victim, pid) not in [(a, p) for _op, a, p in _daskprims.lines(log, "done")]


def test_a_failing_task_fails_only_its_dependents(address, tmp_path):
    log = str(tmp_path / "log")
    prog = (f'let bad = dask_fail("{log}", 1)\n'
            'print "bad" bad + 1\n'
            f'print "good" dask_slow("{log}", 0, 2)\n'
            'print "also bad" bad * 2\n')
    on_cluster = vx.run(prog, backend="dask", scheduler=address, cache_dir=str(tmp_path / "s1"))
    local = vx.run(prog, cache_dir=str(tmp_path / "s2"))
    assert on_cluster["good"] == 3.0 and on_cluster.printed == local.printed
    (f,) = on_cluster.failures
    assert f.op == "dask_fail" and f.message == "ValueError: dask_fail fails on 1" and "Traceback" in f.traceback
    assert [str(f) for f in on_cluster.failures] == [str(f) for f in local.failures]
    assert on_cluster.not_done == local.not_done and len(on_cluster.not_done) == 2
    assert on_cluster.stats["failed"] == 1
    assert len(_daskprims.lines(log, op="dask_fail")) == 2  # once per backend


def test_a_stored_value_found_corrupt_is_computed_again(address, scans, tmp_path):
    log = str(tmp_path / "log")
    store = tmp_path / "store"
    prog = f'print "v" volume(dask_seen("{log}", intensity(load("{scans}/scan03.nii.gz"))) >. 0.5)\n'
    first = vx.run(prog, backend="dask", scheduler=address, cache_dir=str(store))
    s = Session(cache_dir=str(store), backend="dask", scheduler=address)
    s.reduce(prog)
    seen_id = next(t.id for t in s.table.tasks.values() if t.kind == "apply" and t.op == "dask_seen")
    pkl = s.engine.store.objects / seen_id[:2] / s.engine.store.meta(seen_id)["file"]
    pkl.write_bytes(b"\0" * pkl.stat().st_size)  # same size, wrong content
    # force: the goal is computed again, so the corrupt value is needed
    second = s.run(prog, force=True)
    assert second.ok and second["v"] == first["v"], second.failures
    assert len(_daskprims.lines(log)) == 2


def test_the_cli_flags(address, scans, tmp_path, run_cli):
    prog = f'print "v" volume(intensity(load("{scans}/scan01.nii.gz")) >. 0.5)\n'
    code, out, err = run_cli(prog, "--backend", "dask", "--scheduler", address, "--cache-dir", str(tmp_path / "a"))
    assert code == 0 and out == run_cli(prog, "--cache-dir", str(tmp_path / "b"))[1] and out.startswith("v=")
    code, out, err = run_cli(prog, "--scheduler", address)
    assert code == 2 and "backend" in err
    try:
        code, out, err = run_cli(prog, "--backend", "dask", "--workers", "1", "--cache-dir", str(tmp_path / "c"))
        assert code == 0 and out.startswith("v=")
        with distributed.Client(backend.local_cluster(1)) as client:  # the cluster the run started
            assert len(client.scheduler_info()["workers"]) == 1
    finally:
        backend.close_local_clusters()


def test_the_notebook_setting(address, ip, tmp_path):
    from _shell import cell, magics

    log = str(tmp_path / "log")
    m = magics(ip)
    ip.run_line_magic("config", "VoxLogicA.backend = 'dask'")
    ip.run_line_magic("config", f"VoxLogicA.scheduler = '{address}'")
    assert isinstance(m.session.engine, backend.DaskEngine) and m.session.engine.scheduler == address
    res, cap = cell(ip, "-o r", f'print "a" dask_slow("{log}", 0, 1)')
    assert res.success and ip.user_ns["r"]["a"] == 2.0
    (_op, _arg, pid), = _daskprims.lines(log)
    assert pid != os.getpid()
    # a primitive defined in the notebook is sent to the workers with its tasks
    ip.run_cell("import os, voxlogica_nb as vx\n"
                "@vx.primitive('(num) -> num')\n"
                "def notebook_pid(x):\n"
                "    return os.getpid() + x")
    try:
        res, cap = cell(ip, "-o r", 'print "pid" notebook_pid(0)')
        assert res.success and ip.user_ns["r"]["pid"] not in (os.getpid(), 0.0)
    finally:
        vx.REGISTRY.remove("notebook_pid")
    ip.run_line_magic("config", "VoxLogicA.backend = 'threads'")
    assert not isinstance(m.session.engine, backend.DaskEngine)


def test_importing_the_package_does_not_import_dask():
    code = ("import sys, voxlogica_nb, voxlogica_nb.engine.distributed\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed'))))")
    out = subprocess.run([sys.executable, "-c", "import json\n" + code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_an_unreachable_scheduler_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch):
    from voxlogica_nb.cli import main
    from voxlogica_nb.engine import distributed

    monkeypatch.setattr(distributed, "CONNECT_SECONDS", 2)
    prog = tmp_path / "p.imgql"
    prog.write_text('print "v" 1 + 1\n')
    port = _free_port()
    code = main(["run", str(prog), "--quiet", "--no-cache", "--backend", "dask",
                 "--scheduler", f"tcp://127.0.0.1:{port}"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert err.startswith(f"voxlogica: cannot reach the dask scheduler at tcp://127.0.0.1:{port}")


def _free_port():
    import socket

    with socket.socket() as s:  # a port nothing listens on once this closes
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
