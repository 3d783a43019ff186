"""An in-process IPython shell with the extension loaded, for the notebook tests."""
from __future__ import annotations

from contextlib import contextmanager

from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from voxlogica_nb.notebook import magics as nbmagics

PNG = b"\x89PNG\r\n\x1a\n"


@contextmanager
def extension_shell(tmp_path, monkeypatch, widgets=False):
    """The shell with the extension freshly loaded (a new session, on the
    test's private store), working in ``tmp_path``; ``widgets``: as in a
    frontend that renders them. Variables the test made are removed after."""
    shell = InteractiveShell.instance()
    shell.extension_manager.unload_extension("voxlogica_nb")
    shell.config.pop("VoxLogicA", None)  # settings of an earlier test
    nbmagics._SESSIONS.pop(id(shell), None)
    monkeypatch.chdir(tmp_path)
    if widgets:
        monkeypatch.setattr(nbmagics, "frontend_has_widgets", lambda shell: True)
    before = set(shell.user_ns)
    assert shell.extension_manager.load_extension("voxlogica_nb") is None
    try:
        yield shell
    finally:
        shell.extension_manager.unload_extension("voxlogica_nb")
        nbmagics._SESSIONS.pop(id(shell), None)
        for name in set(shell.user_ns) - before:
            shell.user_ns.pop(name, None)


def cell(shell, line, body, cell_id=None):
    """Run a ``%%voxlogica`` cell; returns (ExecutionResult, captured output)."""
    with capture_output() as cap:
        res = shell.run_cell(f"%%voxlogica {line}\n{body}", cell_id=cell_id)
    return res, cap


def text(cap):
    """What the user reads: stdout and stderr (tracebacks and usage errors)."""
    return cap.stdout + cap.stderr


def magics(shell):
    return shell.magics_manager.registry["VoxLogicA"]
