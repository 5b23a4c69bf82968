"""`make lab` starts JupyterLab, as root too (the project's machines and CI run as root), and the server answers."""

import json
import os
import signal
import subprocess
import time
import urllib.request

from collapse.infra.config import ROOT


def test_make_lab_starts_and_its_server_answers():
    port = 8800 + os.getpid() % 100
    lab = subprocess.Popen(["make", "--no-print-directory", "lab", f"LAB_ARGS=--port={port} --no-browser"], cwd=ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline, answer = time.monotonic() + 90, None
        while answer is None and time.monotonic() < deadline and lab.poll() is None:
            try:
                with urllib.request.urlopen(f"http://localhost:{port}/api", timeout=2) as response:
                    answer = json.loads(response.read())
            except OSError:
                time.sleep(0.5)
        assert answer and "version" in answer, lab.stdout.read() if lab.poll() is not None else "no answer"
    finally:
        os.killpg(lab.pid, signal.SIGTERM)
        lab.wait(timeout=30)
