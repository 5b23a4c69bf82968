"""JupyterLab is the reading room: its server starts headless, lists the notebooks and runs a cell, then stops."""

import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
import uuid

import nbformat
import pytest

from collapse.infra.config import ROOT

pytest.importorskip("jupyterlab")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(url: str, token: str, method: str = "GET", body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(req, timeout=10) as response:
        return json.loads(response.read() or b"{}")


async def execute(url: str, token: str, kernel: str, code: str) -> str:
    """Run ``code`` on ``kernel`` through the server's websocket channel; return what it printed."""
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    ws = await websocket_connect(HTTPRequest(f"{url.replace('http', 'ws')}/api/kernels/{kernel}/channels",
                                             headers={"Authorization": f"token {token}"}))
    msg_id = uuid.uuid4().hex
    await ws.write_message(json.dumps({
        "header": {"msg_id": msg_id, "username": "test", "session": uuid.uuid4().hex, "msg_type": "execute_request",
                   "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell",
        "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                    "allow_stdin": False, "stop_on_error": True}}))
    printed = ""
    while True:
        msg = json.loads(await asyncio.wait_for(ws.read_message(), timeout=60))
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream":
            printed += msg["content"]["text"]
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            ws.close()
            return printed


def test_a_headless_server_lists_the_notebooks_and_runs_a_cell():
    port, token = free_port(), secrets.token_hex(16)
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter_server", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
         f"--port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={ROOT}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "COLLAPSE_MODE": "smoke"})
    try:
        for _ in range(100):
            try:
                listing = request(f"{url}/api/contents/notebooks", token)
                break
            except OSError:
                time.sleep(0.2)
        names = {item["name"] for item in listing["content"]}
        assert {p.name for p in (ROOT / "notebooks").glob("[0-9]*.ipynb")} <= names
        cell = next(c for c in nbformat.read(ROOT / "notebooks" / "00_tour.ipynb", as_version=4).cells
                    if "parameters" in c.metadata.get("tags", []))  # the tour's parameters cell
        kernel = request(f"{url}/api/kernels", token, "POST", {"name": "python3"})["id"]
        printed = asyncio.run(execute(url, token, kernel, cell.source + "\nprint(sorted(k for k in dir() if k in "
                                      "('mode', 'seed', 'alphas')))"))
        assert printed.strip() == "['alphas', 'mode', 'seed']"
        request(f"{url}/api/kernels/{kernel}", token, "DELETE")
    finally:
        server.terminate()
        server.wait(timeout=20)
    assert server.returncode is not None
