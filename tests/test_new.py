"""`python -m collapse new` in a scratch copy of the repository: the skeleton runs, and passes every check a
notebook faces in `make test`, after exactly the steps docs/extending.md gives."""

import os
import shutil
import subprocess
import sys

from collapse.infra import config

CHECKS = ["tests/test_config.py", "tests/test_notebooks.py", "tests/test_plan.py", "tests/test_layers.py",
          "tests/test_example.py", "tests/test_claims.py"]


def test_a_new_notebook_from_the_skeleton_passes_every_check(tmp_path):
    copy = tmp_path / "repo"
    listed = ["git", "-C", str(config.ROOT), "ls-files", "--cached", "--others", "--exclude-standard"]
    tracked = subprocess.run(listed, capture_output=True, text=True, check=True).stdout.split()
    for path in tracked:
        if (config.ROOT / path).is_file():
            (copy / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(config.ROOT / path, copy / path)
    env = {**os.environ, "PYTHONPATH": str(copy / "lib"), "COLLAPSE_CACHE": str(tmp_path / "cache"),
           "COLLAPSE_WORKERS": "1", "COLLAPSE_PROGRESS": "0"}
    env.pop("COLLAPSE_MODE", None)

    def run(*args, **extra):
        done = subprocess.run(args, cwd=copy, env={**env, **extra}, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return done.stdout

    written = run(sys.executable, "-m", "collapse", "new", "09_example")
    assert written.count("wrote ") == 7  # 4 files to write by hand, the .ipynb jupytext makes, 2 data tables
    run(sys.executable, "-m", "collapse", "reproduce", "09")  # the guide's `make reproduce-09`, without make
    run(sys.executable, "-m", "collapse", "report")
    run(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", "--nbval-lax", *CHECKS,
        "notebooks/09_example.ipynb", "-k", "example or 09_ or not (criteria_on_the_committed or executed_copy_runs)",
        COLLAPSE_MODE="smoke")  # the checks and the smoke notebook in one process: one start-up, not two
    run(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", "--nbval",
        "notebooks/executed/09_example.ipynb", COLLAPSE_MODE="full", COLLAPSE_STORE_ONLY="1")
