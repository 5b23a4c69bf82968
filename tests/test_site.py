"""The site's checks find what is broken and nothing else."""

from collapse.infra.site import MARKERS, _markers, broken_links, rendering_problems


def test_broken_links_reports_missing_internal_targets_only(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "img.png").write_bytes(b"")
    (tmp_path / "sub" / "page.html").write_text(
        '<a href="../img.png">ok</a> <img src="../missing.png"> <a href="#top">anchor</a> '
        '<a href="https://example.org/x">external</a> <a href="../index.html#frag">gone</a> <a href="mailto:a@b">m</a>')
    assert sorted(broken_links(tmp_path)) == ["sub/page.html -> ../index.html#frag", "sub/page.html -> ../missing.png"]


def test_verdict_markers_become_svg_and_a_page_that_needs_an_emoji_font_or_tex_fonts_is_caught(tmp_path):
    table = "| a | ✅ reproduced |\n| b | ❌ not reproduced |\n| c | ⛔ contradicts |\n| d | ❔ inconclusive |"
    assert not any(emoji in _markers(table) for emoji in MARKERS) and _markers(table).count("<svg") == 4
    (tmp_path / "good.html").write_text(f"<script src='MathJax.js'></script> STIX-Web {_markers(table)}")
    (tmp_path / "bad.html").write_text("<script src='MathJax.js'></script> ✅")
    assert rendering_problems(tmp_path) == ["bad.html shows ✅ (an emoji font is needed)",
                                            "bad.html loads MathJax without its STIX-Web fonts"]
