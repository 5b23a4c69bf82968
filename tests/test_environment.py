"""environment.yml and requirements.txt name the same packages; pins are exact."""

import re

import yaml

from collapse.infra.config import ROOT


def requirement_names(lines):
    names = {}
    for line in lines:
        line = line.split("#")[0].strip()
        if not line or line.startswith("-"):
            continue
        name, _, version = line.partition("==")
        names[re.sub(r"[-_.]+", "-", name.strip().lower())] = version.strip()
    return names


def environment_packages():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda, pip = [], []
    for dep in env["dependencies"]:
        (pip.extend(dep["pip"]) if isinstance(dep, dict) else conda.append(dep))
    resolved = []
    for line in pip:
        if line.startswith("-r"):
            resolved += (ROOT / line[2:].strip()).read_text().splitlines()
        elif not line.startswith("-e"):
            resolved.append(line)
    conda_names = {re.split(r"[=<>]", c)[0] for c in conda} - {"python", "pip"}
    return conda_names, requirement_names(resolved)


def test_environment_and_requirements_name_the_same_packages():
    conda_only, pip_from_env = environment_packages()
    requirements = requirement_names((ROOT / "requirements.txt").read_text().splitlines())
    assert pip_from_env == requirements
    assert conda_only <= set(requirements), "a conda package missing from requirements.txt"


def test_every_requirement_is_pinned_exactly_and_torch_is_2_13_0():
    requirements = requirement_names((ROOT / "requirements.txt").read_text().splitlines())
    assert all(re.fullmatch(r"\d+(\.\d+)*", v) for v in requirements.values()), requirements
    assert requirements["torch"] == "2.13.0"


def test_the_lock_pins_every_requirement_at_its_version_with_hashes():
    lock = (ROOT / "requirements.lock").read_text()
    locked = requirement_names(line for line in lock.splitlines() if not line.startswith(" "))
    requirements = requirement_names((ROOT / "requirements.txt").read_text().splitlines())
    for name, version in requirements.items():
        assert locked.get(name, "").split(" ")[0].split("+")[0] == version, f"{name}: lock and requirements differ"
    entries = re.split(r"\n(?=\S)", lock.strip())
    assert all("--hash=sha256:" in entry for entry in entries if not entry.startswith("#"))
    tools = (ROOT / "requirements-tools.lock").read_text()  # uv, which installs the lock, pinned by hash too
    version = re.search(r"UV_VERSION := (\S+)", (ROOT / "Makefile").read_text())[1]
    assert re.search(rf"^uv=={re.escape(version)} \\\n\s+--hash=sha256:", tools, re.M), (version, tools[:100])
