"""Every relative link in the Markdown files and the notebooks resolves inside the repository."""

import json
import re
from pathlib import Path

from collapse.infra.config import ROOT

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def documents():
    yield from (p for p in ROOT.glob("*.md"))
    yield from ROOT.joinpath("docs").glob("*.md")
    yield ROOT / "data" / "README.md"
    yield from ROOT.joinpath("notebooks").glob("[0-9]*.ipynb")


def text_of(path: Path) -> str:
    if path.suffix == ".ipynb":
        return "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"]
                         if c["cell_type"] == "markdown")
    return path.read_text()


def broken_links(path: Path) -> list[str]:
    broken = []
    for target in LINK.findall(text_of(path)):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue  # a web address or an anchor on the same page
        if not (path.parent / target.split("#")[0]).resolve().exists():
            broken.append(target)
    return broken


def test_every_relative_link_resolves():
    problems = {str(p.relative_to(ROOT)): broken_links(p) for p in documents()}
    assert not {k: v for k, v in problems.items() if v}


def test_a_broken_link_is_found(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("[fine](page.md) [broken](missing/file.md#part) [web](https://example.org)")
    assert broken_links(page) == ["missing/file.md#part"]


def test_nothing_points_outside_the_repository():
    sources = [*ROOT.joinpath("lib").rglob("*.py"), *ROOT.joinpath("notebooks").glob("[0-9]*.py"),
               *ROOT.joinpath("tests").glob("*.py"), *ROOT.joinpath("benchmarks").glob("*.py"),
               *ROOT.joinpath("scripts").glob("*.py")]
    outside = ("PAPER" + ".md", "../" + "shared")  # spelled so that this file does not contain them
    for path in [*documents(), *sources]:
        assert not [needle for needle in outside if needle in text_of(path)], path
