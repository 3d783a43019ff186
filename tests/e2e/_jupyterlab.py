"""A JupyterLab server and a headless Chromium for the end-to-end tests.

The server runs on 127.0.0.1 on a free port with a random token, in a new
process group, with its own Jupyter config, settings, workspaces and runtime
folders (so nothing of the user's setup leaks in, and no news or update check
goes out) and with ``VOXLOGICA_CACHE_DIR`` set to a fresh folder. The browser
is the system's Chromium (Debian's ``chromium`` package) driven by
Playwright, with a fresh profile.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

CHROMIUM = os.environ.get("VOXLOGICA_E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio",
]
# JupyterLab user settings: no news, no update check; everything else default.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
        {"fetchNews": "false", "checkForUpdates": False},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LabServer:
    """``python -m jupyterlab`` serving ``root`` until :meth:`stop`."""

    def __init__(self, root: Path, home: Path, cache_dir: Path, log_path: Path):
        self.root, self.home, self.log_path = root, home, log_path
        self.token = secrets.token_hex(16)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        for sub in ("config", "data", "runtime", "settings", "workspaces"):
            (home / sub).mkdir(parents=True, exist_ok=True)
        # No "is the build up to date" check on page load (seconds of CPU, nothing to see).
        labconfig = home / "config" / "labconfig"
        labconfig.mkdir(parents=True, exist_ok=True)
        (labconfig / "page_config.json").write_text(json.dumps({"buildCheck": False, "buildAvailable": False}))
        for name, settings in LAB_SETTINGS.items():
            path = home / "settings" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(settings))
        bindir = os.path.dirname(sys.executable)
        self.env = dict(
            os.environ,
            # The kernel spec runs "python": this environment's, where the project is installed.
            PATH=bindir + os.pathsep + os.environ.get("PATH", ""),
            VOXLOGICA_CACHE_DIR=str(cache_dir),
            JUPYTER_CONFIG_DIR=str(home / "config"),
            JUPYTER_DATA_DIR=str(home / "data"),
            JUPYTER_RUNTIME_DIR=str(home / "runtime"),
            JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
            JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
            PYTHONUNBUFFERED="1",
        )
        self.env.pop("JUPYTER_PATH", None)
        self.env.pop("JUPYTER_CONFIG_PATH", None)
        self.proc = None
        self.log = None

    def start(self, timeout: float = 90.0):
        self.log = open(self.log_path, "wb")
        cmd = [sys.executable, "-m", "jupyterlab", "--no-browser",
               "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}",
               "--ServerApp.open_browser=False", "--LabApp.extension_manager=readonly"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")  # CI containers run as root
        self.proc = subprocess.Popen(cmd, cwd=self.root, env=self.env, stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                self.api("GET", "/api/status", timeout=2)
                return self
            except (OSError, urllib.error.URLError):
                time.sleep(0.3)
        raise RuntimeError(f"jupyter lab did not answer on {self.url} within {timeout:.0f} s:\n"
                           f"{self.log_tail()}")

    def api(self, method: str, path: str, timeout: float = 10):
        req = urllib.request.Request(self.url + path, method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def lab_url(self, path: str) -> str:
        return f"{self.url}/lab/tree/{path}?token={self.token}"

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self):
        """Shut the kernels down, then the server (its whole process group)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                for k in self.api("GET", "/api/kernels", timeout=5) or []:
                    self.api("DELETE", f"/api/kernels/{k['id']}", timeout=15)
            except Exception:
                pass  # the server's own shutdown stops its kernels too
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        if self.log:
            self.log.close()
        self.proc = None


def chromium_or_fail() -> str:
    """The Chromium executable, or a clear reason why the e2e tests cannot run."""
    path = CHROMIUM if os.path.isabs(CHROMIUM) else shutil.which(CHROMIUM)
    if not path or not os.access(path, os.X_OK):
        raise RuntimeError(f"no Chromium at {CHROMIUM!r}: install Debian's package "
                           "(apt-get install chromium) or set VOXLOGICA_E2E_CHROMIUM")
    return path
