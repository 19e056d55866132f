"""The site profile: named sites, the command line wins, passwords kept private, init."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import BROKEN_DUMP, CLEAN_DUMP, url_of

from migrate.cli import main
from migrate.errors import BadInput
from migrate.export.mapping import load_mapping
from migrate.profile import load_profile


def cli(*args: str, cwd: Path | None = None):
    old = Path.cwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        return CliRunner().invoke(main, list(args), catch_exceptions=False)
    finally:
        os.chdir(old)


def write_profile(folder: Path, text: str, mode: int = 0o644) -> Path:
    path = folder / "drupal-migrate.toml"
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


TWO_SITES = f"""
[sites.broken]
dump = "{BROKEN_DUMP}"
[sites.clean]
dump = "{CLEAN_DUMP}"
"""


def test_first_site_is_the_default_and_site_picks_another(tmp_path):
    write_profile(tmp_path, TWO_SITES)
    first = cli("inspect", "--format", "json", cwd=tmp_path)
    assert first.exit_code == 0, first.output
    assert json.loads(first.output)["source"].endswith(BROKEN_DUMP.name)
    other = cli("inspect", "--site", "clean", "--format", "json", cwd=tmp_path)
    assert json.loads(other.output)["source"].endswith(CLEAN_DUMP.name)


def test_command_line_source_wins_over_the_profile(tmp_path):
    write_profile(tmp_path, TWO_SITES)
    result = cli("inspect", "--dump", str(CLEAN_DUMP), "--format", "json", cwd=tmp_path)
    assert json.loads(result.output)["source"].endswith(CLEAN_DUMP.name)


def test_config_option_and_unknown_site(tmp_path):
    path = write_profile(tmp_path, TWO_SITES)
    result = cli("inspect", "--config", str(path), "--site", "nope")
    assert result.exit_code == 2
    assert "no site 'nope'" in result.output and "broken, clean" in result.output
    missing = cli("inspect", "--config", str(tmp_path / "none.toml"))
    assert missing.exit_code == 2 and "no such profile" in missing.output


def test_profile_db_url_reaches_mariadb(tmp_path, broken_db):
    write_profile(tmp_path, f'[sites.live]\ndb = "{url_of(broken_db)}"\n', mode=0o600)
    result = cli("audit", "--check", "taxonomy.dangling_field_ref", cwd=tmp_path)
    assert result.exit_code == 1
    assert "331" in result.output


@pytest.mark.parametrize(
    "line",
    [
        'db = "mysql://reader:s3cr3t-pw@127.0.0.1/drupal"',
        'db = "mysql://reader@h/d"\npassword = "s3cr3t-pw"',
    ],
)
def test_a_password_needs_a_private_file_and_is_never_printed(tmp_path, line):
    path = write_profile(tmp_path, f"[sites.live]\n{line}\n", mode=0o644)
    result = cli("audit", "--config", str(path))
    assert result.exit_code == 2
    assert "chmod 600" in result.output
    assert "s3cr3t-pw" not in result.output
    path.chmod(0o600)
    profile = load_profile(path)
    assert "s3cr3t-pw" not in repr(profile.site())
    assert profile.site().source_spec().password == "s3cr3t-pw"


def test_password_from_the_environment(tmp_path, monkeypatch):
    path = write_profile(
        tmp_path, '[sites.live]\ndb = "mysql://reader@h/d"\npassword_env = "DM_TEST_PW"\n'
    )
    site = load_profile(path).site()
    with pytest.raises(BadInput, match="DM_TEST_PW is not set"):
        site.source_spec()
    monkeypatch.setenv("DM_TEST_PW", "from-env")
    assert site.source_spec().password == "from-env"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[sites.a]\ndumpp = 'x'\n", "unknown key(s) dumpp"),
        ("[sites.a]\ndump = 'x'\ndb = 'mysql://h/d'\n", "not db and dump"),
        ("[sites.a]\ntargets = 3\n", "targets must be a string or a list"),
        ("[sites.a]\nredirects = 'iis'\n", "redirects must be one of"),
        ("sites = 1\n", "no [sites.NAME] table"),
        ("[sites.a\n", "not a valid TOML file"),
    ],
)
def test_malformed_profiles_are_one_line_errors(tmp_path, text, message):
    path = write_profile(tmp_path, text)
    result = cli("inspect", "--config", str(path))
    assert result.exit_code == 2
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_profile_values_fill_options_the_command_line_did_not_give(tmp_path):
    """export takes --out from the profile (OUT/export-TARGET) and the mapping file."""
    (tmp_path / "map.yml").write_text("content_types:\n  article: post\n", encoding="utf-8")
    write_profile(
        tmp_path, f'[sites.s]\ndump = "{BROKEN_DUMP}"\nmapping = "map.yml"\nout = "out"\n'
    )
    result = cli("export", "--types", "article", "--limit", "3", "--workers", "0", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    (batch,) = (tmp_path / "out/export-jsonl/nodes").glob("batch-*.jsonl")
    types = {json.loads(line)["target_type"] for line in batch.read_text().splitlines()}
    assert types == {"post"}
    status = cli("status", cwd=tmp_path)
    assert status.exit_code == 0 and "export-jsonl" in status.output
    explicit = cli("status", str(tmp_path / "out/export-jsonl"))
    assert explicit.exit_code == 0


def test_init_writes_a_profile_that_loads(tmp_path):
    result = cli("init", "--dump", str(BROKEN_DUMP), "--site", "vn", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    profile = load_profile(tmp_path / "drupal-migrate.toml")
    site = profile.site()
    assert site.name == "vn"
    assert site.dump == BROKEN_DUMP
    assert site.timezone == "Asia/Ho_Chi_Minh"
    text = (tmp_path / "drupal-migrate.toml").read_text(encoding="utf-8")
    assert "# Site name: Trường Đại học" in text
    mapping = load_mapping(site.mapping)
    assert mapping.content_types == {"article": "article", "page": "page"}
    assert set(mapping.vocabularies) == {"chuyen_muc", "tags", "don_vi"}
    again = cli("init", "--dump", str(BROKEN_DUMP), cwd=tmp_path)
    assert again.exit_code == 2 and "--force" in again.output


def test_init_leaves_a_db_password_out(tmp_path, broken_db):
    url = url_of(broken_db).replace("mysql://root@", "mysql://root:@")
    result = cli("init", "--db", url, "-o", str(tmp_path / "p.toml"))
    assert result.exit_code == 0, result.output
    site = load_profile(tmp_path / "p.toml").site()
    assert site.db is not None and ":@" not in site.db
    assert site.name == broken_db.database


def test_init_from_settings_php_then_commands_use_it(tmp_path, broken_db):
    site_dir = tmp_path / "drupal/sites/default"
    site_dir.mkdir(parents=True)
    (site_dir / "settings.php").write_text(
        "<?php\n$databases['default']['default'] = array(\n"
        f"  'driver' => 'mysql', 'database' => '{broken_db.database}',\n"
        f"  'username' => '{broken_db.user}', 'password' => '{broken_db.password}',\n"
        f"  'host' => '{broken_db.host}', 'port' => '{broken_db.port}', 'prefix' => '',\n);\n",
        encoding="utf-8",
    )
    work = tmp_path / "work"
    work.mkdir()
    result = cli("init", "--settings", str(site_dir / "settings.php"), cwd=work)
    assert result.exit_code == 0, result.output
    site = load_profile(work / "drupal-migrate.toml").site()
    assert site.name == "default" and site.settings == site_dir / "settings.php"
    assert site.timezone == "Asia/Ho_Chi_Minh"
    inspected = cli("inspect", "--format", "json", cwd=work)
    assert inspected.exit_code == 0, inspected.output
    assert json.loads(inspected.output)["source"].endswith(f"/{broken_db.database}")
