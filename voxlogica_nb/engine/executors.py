"""Executors: where the engine's heavy tasks run.

An executor needs only ``submit(fn, *args) -> Future`` (a
``concurrent.futures.Future`` or anything with ``add_done_callback``,
``result`` and ``cancel``) and ``shutdown()``; ``slots`` says how many tasks
a run should keep submitted at once (the engine holds the rest back, to
choose what runs next and to bound memory). The default is a thread pool:
numpy, scipy and SimpleITK release the GIL, so independent tasks overlap
without copying images between processes. A distributed backend can submit
the same calls to a cluster, keyed by task id.
"""
from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor


class Executor:
    slots: int | None = None  # None: the engine's ``jobs``

    def submit(self, fn, *args) -> Future:
        raise NotImplementedError

    def shutdown(self, wait: bool = False) -> None:
        pass


class ThreadExecutor(Executor):
    def __init__(self, jobs: int | None = None):
        self.jobs = self.slots = jobs or os.cpu_count() or 1
        self._pool = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="voxlogica")

    def submit(self, fn, *args) -> Future:
        return self._pool.submit(fn, *args)

    def shutdown(self, wait: bool = False) -> None:
        # Submitted tasks still run: other runs may be waiting on them.
        self._pool.shutdown(wait=wait)

