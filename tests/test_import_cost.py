"""Importing the package loads only what every run needs: image libraries,
the disk store's serialiser and Jupyter load on first use."""
import json
import subprocess
import sys


def test_import_loads_no_heavy_library():
    code = ("import sys, json, voxlogica_nb\n"
            "print(json.dumps(sorted(m for m in ('SimpleITK', 'scipy', 'joblib', 'IPython', 'ipywidgets')"
            " if m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == []
