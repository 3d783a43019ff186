"""The Jupyter layer: ``%load_ext voxlogica_nb`` registers the magics.

IPython and ipywidgets are imported here only, and only when the extension
loads; the engine knows nothing of Jupyter.
"""
from __future__ import annotations


def load_ipython_extension(shell):
    from .magics import VoxLogicA

    magics = VoxLogicA(shell, parent=shell)
    shell.register_magics(magics)
    if magics not in shell.configurables:
        shell.configurables.append(magics)
    shell.events.register("pre_run_cell", magics.pre_run_cell)
    magics.report_dangling()


def unload_ipython_extension(shell):
    from .magics import VoxLogicA

    magics = shell.magics_manager.registry.get(VoxLogicA.__name__)
    if magics is None:
        return
    try:
        shell.events.unregister("pre_run_cell", magics.pre_run_cell)
    except ValueError:
        pass
    if magics in shell.configurables:
        shell.configurables.remove(magics)
    for kind in ("line", "cell"):
        table = shell.magics_manager.magics[kind]
        for name in ("voxlogica", "voxlogica_cache"):
            table.pop(name, None)
    shell.magics_manager.registry.pop(VoxLogicA.__name__, None)
