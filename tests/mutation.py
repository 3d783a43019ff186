"""Planted bugs: does the test suite notice them? (run by hand, not by pytest)

Each mutation below is a small source edit that reintroduces a bug the
engine or the store must not have. For each one, this script copies the
package and the tests into a temporary folder, applies that one edit to the
copy, and runs pytest there (``PYTHONPATH`` points at the copy, so test
subprocesses import the mutated package too). A mutation is KILLED when at
least one test fails, SURVIVED when every test passes; NOT APPLIED means
its source text was not found (the code moved: update the mutation).

Usage::

    .venv/bin/python tests/mutation.py                  # every mutation
    .venv/bin/python tests/mutation.py near-cross ...   # some of them
    .venv/bin/python tests/mutation.py --list
    .venv/bin/python tests/mutation.py --full           # run every test file for each mutation

For each mutation the test files most likely to catch it run first, in full
(so the table names the tests that catch it); the remaining files of the
suite run (stopping at the first failure) only if those all pass. A baseline
run of the unmutated copy comes first (``--no-baseline`` skips it); it must
pass, else the results mean nothing. Exit status: 0 if every mutation was
killed, 1 otherwise.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent

#: The suite the mutations are judged by.
SUITE = [
    "tests/test_diskstore.py", "tests/test_store_engine.py", "tests/test_claims.py",
    "tests/test_stdlib.py", "tests/test_compat_programs.py", "tests/test_cli.py",
    "tests/test_engine.py", "tests/test_session_gaps.py", "tests/test_store_faults.py",
    "tests/test_store_security.py", "tests/test_spatial_primitives.py",
]


@dataclass
class Mutation:
    name: str
    what: str
    file: str
    # [(old text, new text, expected number of occurrences)]; an entry may
    # instead be a list of such alternatives, the first that fits is applied
    edits: list
    first: list = field(default_factory=list)  # test files to run first


MUTATIONS = [
    Mutation(
        "id-ignores-version", "task id ignores the primitive's version",
        "voxlogica_nb/language/tasks.py",
        [[('tid = apply_id(prim.name, prim.version, ids)', 'tid = apply_id(prim.name, "", ids)', 1),
          ('obj = {"op": prim.name, "v": prim.version, "args": ids}', 'obj = {"op": prim.name, "args": ids}', 1)]],
        ["tests/test_session_gaps.py", "tests/test_engine.py"]),
    Mutation(
        "cache-key-ignores-version", "the task table's cache key ignores the version",
        "voxlogica_nb/language/tasks.py",
        [("key = (prim.name, prim.version, *ids)", "key = (prim.name, *ids)", 1),
         ("self._applied[(prim.name, prim.version, *ids)] = t", "self._applied[(prim.name, *ids)] = t", 1)],
        ["tests/test_session_gaps.py", "tests/test_engine.py"]),
    Mutation(
        "no-inflight-sharing", "runs in one process do not share a task in flight",
        "voxlogica_nb/engine/scheduler.py",
        [("            return self._inflight.get(task_id)\n", "            return None\n", 1),
         ("            fut = self._inflight.get(task_id)\n            if fut is not None:",
          "            fut = None\n            if fut is not None:", 1)],
        ["tests/test_store_engine.py", "tests/test_engine.py"]),
    Mutation(
        "failure-age-ignored", "a waiter takes any failure record as the runner's verdict",
        "voxlogica_nb/engine/worker.py",
        [('(rec is not None and rec.get("time", 0) >= started - 1)', "rec is not None", 1)],
        ["tests/test_store_engine.py"]),
    Mutation(
        "no-size-crc-check", "values are read without checking their size and CRC",
        "voxlogica_nb/engine/diskstore.py",
        [('if st.st_size != meta.get("bytes"):', "if False:", 1),
         ('if crc != meta.get("crc32"):', "if False:", 1)],
        ["tests/test_diskstore.py", "tests/test_store_engine.py", "tests/test_store_faults.py"]),
    Mutation(
        "near-cross", "near dilates with a cross instead of a box",
        "voxlogica_nb/primitives/spatial.py",
        [('return as_bool(b, _box3(boolean(b, "near"), grow=True))',
          'from scipy import ndimage as _ndi\n'
          '    m = boolean(b, "near")\n'
          '    return as_bool(b, _ndi.binary_dilation(m, _ndi.generate_binary_structure(m.ndim, 1)))', 1)],
        ["tests/test_stdlib.py", "tests/test_spatial_primitives.py"]),
    # -- the store's own guarantees -------------------------------------------------------
    Mutation(
        "temp-left-on-failed-commit", "a commit that fails leaves its temporary file",
        "voxlogica_nb/engine/diskstore.py",
        [("        except OSError as e:\n            self._unlink(tmp)\n            if not committed:",
          "        except OSError as e:\n            if not committed:", 1)],
        ["tests/test_store_faults.py"]),
    Mutation(
        "files-not-owner-only", "the store creates files and folders as the umask allows",
        "voxlogica_nb/engine/diskstore.py",
        [("(0o666, 0o777) if self.shared else (0o600, 0o700)", "(0o666, 0o777)", 1)],
        ["tests/test_store_security.py"]),
    Mutation(
        "unsafe-folder-accepted", "a store folder others can write is used",
        "voxlogica_nb/engine/diskstore.py",
        [("        if not self.shared:\n            self._refuse_if_unsafe()",
          "        if False:\n            self._refuse_if_unsafe()", 1)],
        ["tests/test_store_security.py"]),
]


def copy_project(dest: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
    shutil.copytree(PROJECT / "voxlogica_nb", dest / "voxlogica_nb", ignore=ignore)
    shutil.copytree(PROJECT / "tests", dest / "tests", ignore=shutil.ignore_patterns(
        "__pycache__", "*.pyc", "bench"))
    for name in ("conftest.py", "pyproject.toml"):
        if (PROJECT / name).exists():
            shutil.copy2(PROJECT / name, dest / name)


def apply(dest: Path, m: Mutation) -> str | None:
    """Edit the copy; None if done, else why not."""
    path = dest / m.file
    text = path.read_text()
    for edit in m.edits:
        choices = edit if isinstance(edit, list) else [edit]
        for old, new, count in choices:
            if text.count(old) == count:
                text = text.replace(old, new)
                break
        else:
            old, _new, count = choices[0]
            return f"{old!r} found {text.count(old)} time(s) in {m.file}, expected {count}"
    path.write_text(text)
    return None


def pytest(dest: Path, files, stop_first: bool, timeout: float):
    """Run pytest on ``files`` in the copy: (exit code, failing test ids, seconds)."""
    env = dict(os.environ, PYTHONPATH=str(dest), PYTHONDONTWRITEBYTECODE="1")
    env.pop("VOXLOGICA_SHARED_STORE", None)
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
           "--rootdir", str(dest), "-c", str(dest / "pyproject.toml"), "-rf",
           *(["-x"] if stop_first else []), *files]
    t0 = time.monotonic()
    try:
        done = subprocess.run(cmd, cwd=dest, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return -1, ["(timed out)"], time.monotonic() - t0
    failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", done.stdout, re.M)
    if done.returncode not in (0, 1) and not failed:
        failed = [done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-300:]]
    return done.returncode, failed, time.monotonic() - t0


def check_isolation(dest: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(dest))
    out = subprocess.run([sys.executable, "-c", "import voxlogica_nb; print(voxlogica_nb.__file__)"],
                         cwd=dest, env=env, capture_output=True, text=True, timeout=120).stdout.strip()
    if not out.startswith(str(dest)):
        raise SystemExit(f"the copy is not what Python imports ({out}); cannot judge mutations")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="mutations to try (default: all)")
    ap.add_argument("--list", action="store_true", help="list the mutations and exit")
    ap.add_argument("--full", action="store_true", help="run every test file for every mutation")
    ap.add_argument("--no-baseline", action="store_true", help="skip the unmutated run")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per pytest run")
    args = ap.parse_args(argv)
    if args.list:
        for m in MUTATIONS:
            print(f"{m.name:28} {m.what}")
        return 0
    chosen = [m for m in MUTATIONS if not args.names or m.name in args.names]
    unknown = set(args.names) - {m.name for m in MUTATIONS}
    if unknown:
        ap.error(f"unknown mutation(s): {', '.join(sorted(unknown))}")
    suite = [f for f in SUITE if (PROJECT / f).exists()]

    if not args.no_baseline:
        with tempfile.TemporaryDirectory(prefix="vx-mutation-") as tmp:
            dest = Path(tmp)
            copy_project(dest)
            check_isolation(dest)
            print(f"baseline: {len(suite)} test files ...", flush=True)
            code, failed, secs = pytest(dest, suite, stop_first=False, timeout=args.timeout)
            if code != 0:
                print(f"baseline FAILED ({secs:.0f} s): {', '.join(failed)}")
                return 2
            print(f"baseline passed ({secs:.0f} s)", flush=True)

    rows = []
    for m in chosen:
        with tempfile.TemporaryDirectory(prefix="vx-mutation-") as tmp:
            dest = Path(tmp)
            copy_project(dest)
            problem = apply(dest, m)
            if problem:
                rows.append((m, "NOT APPLIED", [problem], 0.0))
                print(f"{m.name}: NOT APPLIED ({problem})", flush=True)
                continue
            first = [f for f in (suite if args.full else m.first) if (dest / f).exists()]
            code, failed, secs = pytest(dest, first, stop_first=False, timeout=args.timeout)
            if code == 0 and not args.full:
                rest = [f for f in suite if f not in first]
                code, failed, more = pytest(dest, rest, stop_first=True, timeout=args.timeout)
                secs += more
            verdict = "SURVIVED" if code == 0 else "KILLED" if failed else f"ERROR (exit {code})"
            rows.append((m, verdict, failed, secs))
            print(f"{m.name}: {verdict} ({secs:.0f} s) {', '.join(failed[:3])}", flush=True)

    print()
    print(f"| {'mutation':28} | {'planted bug':55} | verdict  | caught by")
    print(f"|{'-' * 30}|{'-' * 57}|----------|{'-' * 40}")
    for m, verdict, failed, _secs in rows:
        shown = ", ".join(f.split("::")[-1] for f in failed[:4]) + (f" (+{len(failed) - 4})" if len(failed) > 4 else "")
        print(f"| {m.name:28} | {m.what:55} | {verdict:8} | {shown}")
    return 0 if all(v == "KILLED" for _m, v, _f, _s in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
