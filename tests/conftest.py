"""Fixtures shared by the tests; what they build is in ``_build.py``, the
notebook shell in ``_shell.py``."""
import pytest

from _build import Processes


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Each test gets its own store folder, so tests never share results."""
    monkeypatch.setenv("VOXLOGICA_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    yield


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Run inside a temporary working directory."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def procs():
    """Python subprocesses of the test (``_build.Processes``); those still
    running at its end are killed."""
    ps = Processes()
    try:
        yield ps
    finally:
        ps.kill_all()


@pytest.fixture
def run_cli(tmp_path, capsys):
    """``run_cli(text, *options)``: ``voxlogica run prog.imgql --quiet *options``
    in this process on ``text`` (saved as ``tmp_path``/prog.imgql); returns
    (exit code, stdout, stderr)."""
    from voxlogica_nb.cli import main

    def run(text, *options):
        prog = tmp_path / "prog.imgql"
        prog.write_text(text)
        code = main(["run", str(prog), "--quiet", *options])
        return (code, *capsys.readouterr())

    return run


@pytest.fixture
def phantom(tmp_path):
    """The small head phantom written to ``tmp_path``/ph: {"flair": path, "truth": path}."""
    from voxlogica_nb import data

    return data.write_phantom(str(tmp_path / "ph"))


@pytest.fixture
def ip(tmp_path, monkeypatch):
    """The IPython shell with the extension freshly loaded, in ``tmp_path``."""
    from _shell import extension_shell

    with extension_shell(tmp_path, monkeypatch) as shell:
        yield shell


@pytest.fixture
def widget_ip(tmp_path, monkeypatch):
    """As ``ip``, in a frontend with widgets; explorers are closed afterwards."""
    from _shell import extension_shell, magics

    with extension_shell(tmp_path, monkeypatch, widgets=True) as shell:
        m = magics(shell)
        yield shell
        for ex in [*m.explorers.values(), *m.loose_explorers]:
            ex.close()
