"""The browsable site: the README, the results page, the papers' account, the executed notebooks and a figure
gallery, built offline into static HTML (Sphinx with myst-nb; nothing is executed, nothing is fetched: MathJax is
served from the site itself).

``python -m collapse site`` assembles a Sphinx source tree under ``build/site/src`` that mirrors the repository's
layout (so every relative link in the Markdown and the notebooks resolves unchanged; executed notebooks take their
sources' place under ``notebooks/``), builds ``build/site/html`` treating every warning as an error, then checks
that every internal link and image of every page resolves to a file of the site.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

from collapse.infra import config, figures

SITE = config.ROOT / "build" / "site"
PAGES = ["README.md", "RESULTS.md", "docs/papers.md", "docs/extending.md", "data/README.md", "LICENSE-CONTENT.md"]
FILES = ["CITATION.cff", "LICENSE", "figures/MANIFEST"]  # linked, shown as downloads

CONF = '''
project = "Model collapse in diffusion models: a reproducible companion"
extensions = ["myst_nb"]
root_doc = "index"
exclude_patterns = ["_build"]
nb_execution_mode = "off"
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
myst_update_mathjax = False  # its MathJax 3 options would stop the bundled MathJax 2
html_theme = "alabaster"
html_static_path = ["_static"]
html_theme_options = {"page_width": "1200px"}
mathjax_path = "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full"
# the bundled MathJax holds the STIX-Web fonts only: asked for TeX's, it drew letters upright and accents detached
mathjax2_config = {"HTML-CSS": {"availableFonts": ["STIX-Web"], "preferredFont": "STIX-Web", "webFont": "STIX-Web",
                                "imageFont": None}}
suppress_warnings = ["mystnb.unknown_mime_type"]
'''

# The verdict markers as inline SVG: the emoji of the README render as empty boxes where no emoji font is installed
# (a headless browser on a server, for one)
_DISC = '<svg class="verdict" width="1em" height="1em" viewBox="0 0 16 16" role="img" aria-label="{label}">' \
        '<circle cx="8" cy="8" r="7.5" fill="{colour}"/><path d="{path}" stroke="#fff" stroke-width="2" ' \
        'fill="none" stroke-linecap="round"/></svg>'
MARKERS = {
    "✅": _DISC.format(label="reproduced", colour="#2e7d32", path="M4.5 8.5l2.5 2.5 4.5-5.5"),
    "❌": _DISC.format(label="not reproduced", colour="#c62828", path="M5 5l6 6M11 5l-6 6"),
    "⛔": _DISC.format(label="contradicts the paper", colour="#6a1b9a", path="M4.5 8h7"),
    "❔": _DISC.format(label="inconclusive", colour="#757575",
                      path="M6 6.2a2 2 0 1 1 2.6 1.9c-.6.3-.6.8-.6 1.4M8 11.6v.1"),
}


def assemble(src: Path) -> None:
    """Copy the pages, notebooks, figures and linked files into ``src``, with an index, a gallery and a config."""
    if src.exists():
        shutil.rmtree(src)
    for page in PAGES + FILES:
        _copy(config.ROOT / page, src / page)
    for png in (config.ROOT / "figures").glob("*.png"):
        _copy(png, src / "figures" / png.name)
    notebooks = sorted(set(config.NOTEBOOKS.values()))
    for name in notebooks:
        _copy(config.ROOT / "notebooks" / "executed" / name, src / "notebooks" / name)
    readme = (src / "README.md").read_text().replace("notebooks/executed/", "notebooks/")
    (src / "README.md").unlink()
    toctree = ["RESULTS", "gallery", "docs/papers", "docs/extending",
               *(f"notebooks/{Path(n).stem}" for n in notebooks), "data/README", "LICENSE-CONTENT"]
    index = "\n```{toctree}\n:hidden:\n:maxdepth: 1\n\n" + "\n".join(toctree) + "\n```\n"
    (src / "index.md").write_text(readme + index)
    results = src / "RESULTS.md"
    results.write_text(results.read_text().replace("notebooks/executed/", "notebooks/").replace("(README.md)",
                                                                                                  "(index.md)"))
    for page in (src / "index.md", results):
        page.write_text(_markers(page.read_text()))
    (src / "gallery.md").write_text(gallery(src))
    (src / "conf.py").write_text(CONF)
    mathjax = _mathjax_dir()
    shutil.copytree(mathjax, src / "_static" / "mathjax")


def _markers(text: str) -> str:
    for emoji, svg in MARKERS.items():
        text = text.replace(emoji, svg)
    return text


def gallery(src: Path) -> str:
    """A page of thumbnails from the figure registry, each linking the full figure, its notebook and the paper's
    figure it reproduces."""
    from matplotlib import image

    (src / "figures" / "thumbs").mkdir(parents=True, exist_ok=True)
    undrawn = [name for name in figures.registry() if not (src / "figures" / f"{name}.png").exists()]
    if undrawn:
        raise SystemExit(f"site: registered figures not drawn yet (run `make reproduce`): {', '.join(undrawn)}")
    lines = ["# Figure gallery\n", "Every figure the notebooks write, with the notebook that draws it and the paper's "
             "figure it reproduces (generated from the figure registry, `figures/MANIFEST`).\n"]
    for name, entry in figures.registry().items():
        thumb = src / "figures" / "thumbs" / f"{name}.png"
        image.thumbnail(str(src / "figures" / f"{name}.png"), str(thumb), scale=0.25)
        notebook = Path(entry["notebook"]).stem
        lines.append(f"## {name}\n\n[![{name}](figures/thumbs/{name}.png)](figures/{name}.png)\n\n{entry['shows']}. "
                     f"Paper: {entry['paper']}. Notebook: [{notebook}](notebooks/{notebook}.ipynb).\n")
    return "\n".join(lines)


def build(out: Path = SITE) -> int:
    """Assemble, build (warnings are errors) and check the links; non-zero on any failure."""
    src, html = out / "src", out / "html"
    missing = [str(config.ROOT / "notebooks" / "executed" / n) for n in set(config.NOTEBOOKS.values())
               if not (config.ROOT / "notebooks" / "executed" / n).exists()]
    if missing:
        print("site: executed notebooks missing (run `make reproduce`): " + ", ".join(missing), file=sys.stderr)
        return 2
    assemble(src)
    if html.exists():
        shutil.rmtree(html)
    built = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-q", str(src),
                            str(html)])
    if built.returncode:
        return built.returncode
    broken = [f"broken link {line}" for line in broken_links(html)] + rendering_problems(html)
    for line in broken:
        print(f"site: {line}", file=sys.stderr)
    print(f"site: {len(list(html.rglob('*.html')))} pages in {html.relative_to(config.ROOT)}; "
          f"{'no broken internal links or rendering problems' if not broken else f'{len(broken)} problems'}")
    return 1 if broken else 0


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.targets = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("href", "src") and value:
                self.targets.append(value)


def rendering_problems(html: Path) -> list[str]:
    """What a browser without an emoji font, or without TeX's fonts, would draw wrongly: an emoji verdict marker left
    in a page, or a page whose MathJax is not told to use the STIX-Web fonts it is served with."""
    problems = []
    for page in html.rglob("*.html"):
        text = page.read_text(errors="replace")
        problems += [f"{page.relative_to(html)} shows {emoji} (an emoji font is needed)" for emoji in MARKERS
                     if emoji in text]
        if "MathJax.js" in text and "STIX-Web" not in text:
            problems.append(f"{page.relative_to(html)} loads MathJax without its STIX-Web fonts")
    return problems


def broken_links(html: Path) -> list[str]:
    """Every relative href or src of every page that names no file of the site (external links are not followed)."""
    broken = []
    for page in html.rglob("*.html"):
        parser = _Links()
        parser.feed(page.read_text(errors="replace"))
        for target in parser.targets:
            parts = urlsplit(target)
            if parts.scheme or parts.netloc or target.startswith(("#", "mailto:", "data:")) or not parts.path:
                continue
            path = (page.parent / unquote(parts.path)).resolve()
            if not path.exists():
                broken.append(f"{page.relative_to(html)} -> {target}")
    return broken


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, target)


def _mathjax_dir() -> Path:
    """MathJax 2 as installed by the pinned ``jupyter-server-mathjax`` (its static folder holds MathJax.js)."""
    import jupyter_server_mathjax

    return Path(jupyter_server_mathjax.__file__).parent / "static"

