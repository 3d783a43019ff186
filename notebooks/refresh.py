"""Re-run notebooks top to bottom and save their outputs, as nbval will
compare them: ``python notebooks/refresh.py [NOTEBOOK ...]`` (all by default).

Each runs in a fresh kernel with a fresh store, in its own folder. Needs
``nbclient`` (``pip install nbclient``).
"""
import glob
import os
import sys
import tempfile

import nbformat
from nbclient import NotebookClient


def refresh(path):
    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory() as store:
        os.environ["VOXLOGICA_CACHE_DIR"] = store
        client = NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                                record_timing=False,  # no timestamps in the saved notebook
                                resources={"metadata": {"path": os.path.dirname(os.path.abspath(path))}})
        client.execute()
    nbformat.write(nb, path)
    errors = [c for c in nb.cells if c.cell_type == "code"
              and any(o.output_type == "error" for o in c.outputs)
              and "raises-exception" not in c.metadata.get("tags", [])]
    print(f"{path}: {len(nb.cells)} cells" + (f", {len(errors)} unexpected error(s)" if errors else ""))
    return not errors


if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    paths = sys.argv[1:] or sorted(glob.glob(os.path.join(here, "[0-9]*.ipynb")))
    sys.exit(0 if all([refresh(p) for p in paths]) else 1)
