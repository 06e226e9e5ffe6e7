"""Start and stop the course's JupyterLab server for tests, with the very command `make lab` uses.

The server is ``make --no-print-directory serve-lab LAB_PORT=... LAB_TOKEN=... LAB_BROWSER=false``
run from the repository root, so a test exercises the Makefile's own flags (127.0.0.1, token, root
folder). Everything the server writes (runtime files, kernels' connection files, settings, the
learner's progress file, checkpoints) goes to a temporary folder, not to the learner's home.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

# JupyterLab user settings the tests rely on: every cell in the DOM (no virtual scrolling, so a
# widget far down a notebook can be found), no autosave (a test's outputs and edits must never be
# written into the committed notebooks), and no news/update toasts over the notebook.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now.

    Returns:
        the port number.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def lab_env(workdir: Path, expose_app: bool = False) -> dict[str, str]:
    """The environment for the server and its kernels, everything stateful pointed into ``workdir``.

    Args:
        workdir: an empty temporary folder.
        expose_app: set ``window.jupyterapp`` in the page (LabApp.expose_app_in_browser), for browser tests.

    Returns:
        a full environment mapping for ``subprocess.Popen``.
    """
    dirs = {name: workdir / name for name in ("runtime", "config", "data", "settings", "workspaces", "checkpoints")}
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    for rel, values in LAB_SETTINGS.items():
        target = dirs["settings"] / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(values))
    # Notebook checkpoints (written when a notebook is opened) go to the temp folder, not notebooks/.
    (dirs["config"] / "jupyter_server_config.json").write_text(
        json.dumps({"FileCheckpoints": {"checkpoint_dir": str(workdir / "lab-checkpoints")}})
    )
    if expose_app:
        (dirs["config"] / "jupyter_lab_config.json").write_text(json.dumps({"LabApp": {"expose_app_in_browser": True}}))
    env = dict(os.environ)
    env.update(
        JUPYTER_RUNTIME_DIR=str(dirs["runtime"]),
        JUPYTER_CONFIG_DIR=str(dirs["config"]),
        JUPYTER_DATA_DIR=str(dirs["data"]),
        JUPYTERLAB_SETTINGS_DIR=str(dirs["settings"]),
        JUPYTERLAB_WORKSPACES_DIR=str(dirs["workspaces"]),
        COURSE_PROGRESS=str(workdir / "progress.json"),
        COURSE_CHECKPOINTS=str(dirs["checkpoints"]),
        PYTHONUNBUFFERED="1",
    )
    env.setdefault("OMP_NUM_THREADS", "2")
    # A learner's kernel draws figures inline; a test-wide MPLBACKEND=Agg would hide them.
    env.pop("MPLBACKEND", None)
    return env


def serve_lab_command(port: int, token: str) -> list[str]:
    """The command line of the Makefile's ``serve-lab`` target with a given port and token.

    Args:
        port: TCP port for the server.
        token: the access token.

    Returns:
        argv for ``subprocess.Popen`` (run it in the repository root).
    """
    return ["make", "--no-print-directory", "serve-lab", f"LAB_PORT={port}", f"LAB_TOKEN={token}", "LAB_BROWSER=false"]


@dataclass
class LabServer:
    """A running ``make serve-lab`` process group and how to reach it."""

    process: subprocess.Popen  # the `make` process; its process group holds JupyterLab
    port: int  # the port JupyterLab reports in its runtime file
    token: str  # the access token passed on the command line
    workdir: Path  # temporary folder with runtime/config/settings/progress/checkpoints
    log_path: Path  # the server's stdout and stderr

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/``."""
        return f"http://127.0.0.1:{self.port}/"

    def url(self, path: str, token: bool = True) -> str:
        """An absolute URL for ``path`` (e.g. "lab"), with ``?token=`` unless ``token`` is False."""
        url = self.base_url + path.lstrip("/")
        if token:
            url += ("&" if "?" in url else "?") + f"token={self.token}"
        return url

    def request(self, path: str, token: str | None = None, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
        """One HTTP request to the server on 127.0.0.1, redirects not followed.

        Args:
            path: path and query, e.g. "/api/status".
            token: sent as ``Authorization: token ...`` when given.
            method: HTTP method.

        Returns:
            (status code, response headers, body).
        """
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            headers = {"Authorization": f"token {token}"} if token else {}
            conn.request(method, path, headers=headers)
            resp = conn.getresponse()
            return resp.status, dict(resp.getheaders()), resp.read()
        finally:
            conn.close()

    def log_tail(self, chars: int = 4000) -> str:
        """The last ``chars`` characters of the server log."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def kernel_pids(self) -> list[int]:
        """Process ids of kernels this server started (their connection files live in our runtime folder).

        Returns:
            pids, empty where /proc is not available.
        """
        runtime = str(self.workdir / "runtime")
        pids = []
        for proc in Path("/proc").glob("[0-9]*"):
            try:
                cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if runtime in cmdline and "kernel" in cmdline:
                pids.append(int(proc.name))
        return pids

    def group_alive(self) -> bool:
        """Whether any process of the server's process group still exists."""
        self.process.poll()  # reap `make` once it has exited, so its zombie does not count
        try:
            os.killpg(self.process.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def stop(self, timeout: float = 30.0) -> list[int]:
        """Stop the server: SIGTERM to its process group, SIGKILL after ``timeout`` seconds.

        Args:
            timeout: seconds to wait for a clean exit.

        Returns:
            pids of kernels that outlived the server and had to be killed here (empty when it shut
            its kernels down itself, as it should).
        """
        if self.group_alive():
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + timeout
            while self.group_alive() and time.monotonic() < deadline:
                time.sleep(0.2)
            if self.group_alive():
                try:
                    os.killpg(self.process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        leftovers = self.kernel_pids()
        for pid in leftovers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return leftovers


def _runtime_port(runtime_dir: Path) -> int | None:
    """The port from the server's ``jpserver-<pid>.json`` runtime file, once it has written one."""
    for info_file in runtime_dir.glob("jpserver-*.json"):
        try:
            return int(json.loads(info_file.read_text())["port"])
        except (OSError, ValueError, KeyError):
            continue
    return None


def start_lab_server(workdir: Path, expose_app: bool = False, startup_timeout: float = 180.0) -> LabServer:
    """Run ``make serve-lab`` on a free port with a fresh token and wait until the API answers.

    Args:
        workdir: an empty temporary folder for the server's state and log.
        expose_app: expose ``window.jupyterapp`` in the page (for browser tests).
        startup_timeout: seconds to wait for ``/api/status`` to answer.

    Returns:
        the running server; call ``stop()`` when done.
    """
    env = lab_env(workdir, expose_app=expose_app)
    token = secrets.token_hex(16)
    port = free_port()
    log_path = workdir / "server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            serve_lab_command(port, token),
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # own process group, so stop() reaches make and jupyter alike
        )
    server = LabServer(process=process, port=port, token=token, workdir=workdir, log_path=log_path)
    deadline = time.monotonic() + startup_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            server.stop()
            raise RuntimeError(f"make serve-lab exited with {process.returncode}:\n{server.log_tail()}")
        actual = _runtime_port(workdir / "runtime")
        if actual is not None:
            server.port = actual
            try:
                status, _, _ = server.request("/api/status", token=token)
            except OSError:
                status = 0
            if status == 200:
                return server
        time.sleep(0.5)
    server.stop()
    raise RuntimeError(f"JupyterLab did not answer within {startup_timeout:.0f} s:\n{server.log_tail()}")
