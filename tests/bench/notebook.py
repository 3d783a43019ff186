"""Notebook layer benchmarks: ``python -m tests.bench.notebook [--smoke]``.

* ``%load_ext voxlogica_nb`` in a fresh process (import cost), against
  starting the same interpreter with IPython alone.
* A 10-task program through ``%%voxlogica`` (progress widget and display)
  against ``Session.run`` of the same program, in one process.
* Widget progress under a 10,000-task run: how many widget updates are
  sent per second (the updater is throttled to 5 per second).
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import time

from ._common import arguments, best


def fresh(code: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - t0


def load_ext_cost(repeat):
    base = "from IPython.core.interactiveshell import InteractiveShell; ip = InteractiveShell.instance()"
    with tempfile.TemporaryDirectory() as cache:
        ext = base + (f"; import os; os.environ['VOXLOGICA_CACHE_DIR'] = {cache!r}"
                      "; ip.run_line_magic('load_ext', 'voxlogica_nb')")
        b = min(fresh(base) for _ in range(repeat))
        t = min(fresh(ext) for _ in range(repeat))
    print(f"%load_ext voxlogica_nb: {t - b:.3f} s on top of IPython start-up ({b:.3f} s); "
          f"ratio {t / b:.2f}x")


def magic_overhead(repeat):
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    from voxlogica_nb.notebook import magics as nbmagics

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "voxlogica_nb")
    nbmagics.frontend_has_widgets = lambda shell: True  # widget progress and viewers, as in Jupyter
    m = ip.magics_manager.registry["VoxLogicA"]
    program = "\n".join(f'print "v{i}" {i} .+. 1' for i in range(10))

    def by_magic():
        with capture_output():
            ip.run_cell_magic("voxlogica", "", program)

    session = m.session
    t_api, med_api, _ = best(lambda: session.run(program), repeat)
    t_mag, med_mag, _ = best(by_magic, repeat)
    print(f"10-task program: Session.run {t_api * 1e3:.1f} ms, %%voxlogica with progress and display "
          f"{t_mag * 1e3:.1f} ms (medians {med_api * 1e3:.1f} / {med_mag * 1e3:.1f} ms); "
          f"overhead {(t_mag - t_api) * 1e3:.1f} ms, ratio {t_mag / t_api:.1f}x")
    return ip


def progress_rate(ip, tasks):
    from voxlogica_nb.notebook import progress as nbprogress

    sent = []
    real = nbprogress.WidgetProgress.refresh

    def counting(self):
        before = (self.bar.value, self.bar.max, self.label.value)
        real(self)
        if (self.bar.value, self.bar.max, self.label.value) != before:
            sent.append(time.perf_counter())

    nbprogress.WidgetProgress.refresh = counting
    # light tasks: a chain over a small image, no store writes.
    program = "load a = \"pic.png\"\nlet x0 = intensity(a)\n" + "\n".join(
        f"let x{i} = x{i - 1} + 1" for i in range(1, tasks)) + f"\nprint \"m\" max(x{tasks - 1})"
    from voxlogica_nb import data
    from IPython.utils.capture import capture_output

    with tempfile.TemporaryDirectory() as d:
        data.write_shapes(d, name="pic.png")
        program = program.replace("pic.png", f"{d}/pic.png")
        t0 = time.perf_counter()
        with capture_output():
            ip.run_cell_magic("voxlogica", "--no-cache", program)
        t = time.perf_counter() - t0
    nbprogress.WidgetProgress.refresh = real
    print(f"{tasks:,}-task run: {t:.2f} s, {len(sent)} widget updates ({len(sent) / t:.1f} per second; "
          f"limit {nbprogress.RATE})")


def main(argv=None):
    args = arguments(__doc__).parse_args(argv)
    repeat, tasks = (1, 300) if args.smoke else (3, 10_000)
    load_ext_cost(repeat)
    ip = magic_overhead(repeat)
    progress_rate(ip, tasks)


if __name__ == "__main__":
    main()
