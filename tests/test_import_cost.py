"""Importing the package loads only what every run needs: image libraries,
the disk store's serialiser and Jupyter load on first use."""
import json

from _build import run_python


def test_import_loads_no_heavy_library():
    code = ("import sys, json, voxlogica_nb\n"
            "print(json.dumps(sorted(m for m in ('SimpleITK', 'scipy', 'joblib', 'IPython', 'ipywidgets')"
            " if m in sys.modules)))")
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
