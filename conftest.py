"""Each notebook checked by nbval runs in a kernel started by this pytest
process with a store of its own, so its counts ("computed 12, from store 0")
are those of a first run, as saved, whatever ran before it."""
import os
import shutil
import tempfile

_store = {}


def pytest_runtest_setup(item):
    # Runs before nbval starts the notebook's kernel (at its first cell).
    path = str(item.path)
    if path.endswith(".ipynb") and _store.get("notebook") != path:
        _store["notebook"] = path
        os.environ["VOXLOGICA_CACHE_DIR"] = tempfile.mkdtemp(prefix="voxlogica-nbval-")
        item.config.add_cleanup(lambda d=os.environ["VOXLOGICA_CACHE_DIR"]: shutil.rmtree(d, True))
