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


STORED_RUN = """
import json, sys
from voxlogica_nb.cli import main
main(["run", sys.argv[1], "--cache-dir", sys.argv[2], "--quiet"])
print(json.dumps(sorted(m for m in ("numpy", "SimpleITK", "scipy", "joblib") if m in sys.modules)))
# what only messages, failures and user primitives need
print(json.dumps(sorted(m for m in ("dataclasses", "inspect", "typing", "difflib", "socket", "html")
                        if m in sys.modules)))
"""


def test_a_run_whose_numbers_are_all_stored_imports_no_image_library(tmp_path):
    import numpy as np
    import SimpleITK as sitk

    scan = tmp_path / "scan.nii"
    sitk.WriteImage(sitk.GetImageFromArray(np.arange(64, dtype=np.float32).reshape(4, 4, 4)), str(scan))
    prog = tmp_path / "p.imgql"
    prog.write_text(f'load img = "{scan}"\nlet x = intensity(img)\n'
                    'print "v" volume(x >. 10)\nprint "m" max(x) + min(x)\n')
    cold = run_python(STORED_RUN, prog, tmp_path / "store")
    assert cold.returncode == 0, cold.stderr
    assert cold.stdout.splitlines()[:2] == ["v=53.0", "m=63.0"]
    assert "numpy" in json.loads(cold.stdout.splitlines()[-2])  # computing needs it
    warm = run_python(STORED_RUN, prog, tmp_path / "store")
    assert warm.returncode == 0, warm.stderr
    assert warm.stdout.splitlines()[:2] == ["v=53.0", "m=63.0"]
    assert json.loads(warm.stdout.splitlines()[-2]) == []  # reading numbers back does not
    assert json.loads(warm.stdout.splitlines()[-1]) == []
