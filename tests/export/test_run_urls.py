"""``run`` exports with the profile's old and new URLs, not the deprecated ``--base-url``."""

from __future__ import annotations

import os
from pathlib import Path

from click.testing import CliRunner
from conftest import BROKEN_DUMP

from migrate.cli import main
from migrate.export.wxr_validate import read_wxr

OLD = "http://www.example.edu.vn"
NEW = "https://moi.example.org"


def test_run_passes_old_urls_and_site_url(tmp_path: Path) -> None:
    (tmp_path / "drupal-migrate.toml").write_text(
        f'[sites.wp]\ndump = "{BROKEN_DUMP}"\ntargets = ["wxr"]\nredirects = "csv"\n'
        f'old_urls = ["{OLD}"]\nsite_url = "{NEW}"\n',
        encoding="utf-8",
    )
    cwd = Path.cwd()
    os.chdir(tmp_path)
    try:
        result = CliRunner().invoke(main, ["run", "-y", "--workers", "0"], catch_exceptions=False)
    finally:
        os.chdir(cwd)
    assert result.exit_code == 0, result.output
    files = sorted((tmp_path / "drupal-migrate-output/wp/export-wxr").glob("wxr-*.xml"))
    assert files
    bodies = ""
    for path in files:
        wxr = read_wxr(path)
        # the new site's base, not the old host (what --base-url made of both)
        assert wxr.base_site_url == NEW, path.name
        for item in wxr.items:
            if item.attachment_url:  # fetched from the new site's uploads
                assert item.attachment_url.startswith(NEW + "/wp-content/"), item.attachment_url
            bodies += item.content
    # links to the old host were rewritten to the new site's paths
    assert bodies and OLD not in bodies
