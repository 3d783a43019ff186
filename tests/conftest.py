import pytest


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
