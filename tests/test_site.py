"""The site's link check finds what is broken and nothing else."""

from collapse.infra.site import broken_links


def test_broken_links_reports_missing_internal_targets_only(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "img.png").write_bytes(b"")
    (tmp_path / "sub" / "page.html").write_text(
        '<a href="../img.png">ok</a> <img src="../missing.png"> <a href="#top">anchor</a> '
        '<a href="https://example.org/x">external</a> <a href="../index.html#frag">gone</a> <a href="mailto:a@b">m</a>')
    assert sorted(broken_links(tmp_path)) == ["sub/page.html -> ../index.html#frag", "sub/page.html -> ../missing.png"]
