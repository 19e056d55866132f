"""Credentials: every source, in order of preference, and the password never shown."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from migrate.cli import main
from migrate.config import from_option_file, from_settings_php, from_url, resolve
from migrate.errors import BadInput
from migrate.identifiers import Prefix

SETTINGS_WITH_PREFIX_ARRAY = """<?php
/**
 * $databases['default']['default'] = array('database' => 'commented_out');
 */
# $databases = array();
$databases = array (
  'default' =>
  array (
    'default' =>
    array (
      'database' => 'tintuc',
      'username' => 'drupal',
      'password' => 'p@ss\\'word',
      'host' => 'db.internal',
      'port' => '3307',
      'driver' => 'mysql',
      'prefix' => array(
        'default' => 'site_',
        'users' => 'shared_',
      ),
    ),
  ),
);
$update_free_access = FALSE;
"""

SETTINGS_KEYED_ASSIGNMENT = """<?php
$databases['default']['default'] = [
  'driver' => 'mysql',
  'database' => "d7",
  'username' => 'root',
  'password' => '',
  'host' => 'localhost',
  'prefix' => 'dp_',
];
"""


def test_url_with_prefix_and_socket() -> None:
    spec = from_url(
        "mysql://editor:s%40cret@db.example:3307/news?prefix=site_&unix_socket=/run/my.sock"
    )
    assert (spec.user, spec.password, spec.host, spec.port) == (
        "editor",
        "s@cret",
        "db.example",
        3307,
    )
    assert spec.database == "news"
    assert spec.prefix == Prefix("site_")
    assert spec.unix_socket == "/run/my.sock"


def test_url_rejects_other_schemes_and_missing_database() -> None:
    with pytest.raises(BadInput, match="mysql://"):
        from_url("postgres://u@h/db")
    with pytest.raises(BadInput, match="no database"):
        from_url("mysql://u@h/")


def test_url_prefix_is_validated_before_it_reaches_sql() -> None:
    with pytest.raises(BadInput, match="table prefix"):
        from_url("mysql://u@h/db?prefix=x`;DROP TABLE node;--")


def test_settings_php_with_per_table_prefix_array(tmp_path: Path) -> None:
    path = tmp_path / "settings.php"
    path.write_text(SETTINGS_WITH_PREFIX_ARRAY)
    spec = from_settings_php(path)
    assert spec.database == "tintuc"
    assert (spec.user, spec.password, spec.host, spec.port) == (
        "drupal",
        "p@ss'word",
        "db.internal",
        3307,
    )
    assert spec.prefix.apply("node") == "site_node"
    assert spec.prefix.apply("users") == "shared_users"


def test_settings_php_keyed_assignment_with_short_arrays(tmp_path: Path) -> None:
    path = tmp_path / "settings.php"
    path.write_text(SETTINGS_KEYED_ASSIGNMENT)
    spec = from_settings_php(path)
    assert (spec.database, spec.host, spec.prefix.default) == ("d7", "localhost", "dp_")


def test_settings_php_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "settings.php"
    path.write_text(
        "<?php\n\n$databases = array('default' => array('default' => array(\n  'database' => ;\n"
    )
    with pytest.raises(BadInput, match=r"settings\.php:\d+: cannot read \$databases"):
        from_settings_php(path)


def test_option_file_client_group(tmp_path: Path) -> None:
    path = tmp_path / "my.cnf"
    path.write_text(
        '[client]\nuser = reader\npassword = "hunter2"\nhost = 10.0.0.5\nport = 3308\n'
        "database = d7\n"
    )
    spec = from_option_file(path)
    assert (spec.user, spec.password, spec.host, spec.port, spec.database) == (
        "reader",
        "hunter2",
        "10.0.0.5",
        3308,
        "d7",
    )


def test_preference_url_then_env_then_settings_then_option_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = tmp_path / "settings.php"
    settings.write_text(SETTINGS_KEYED_ASSIGNMENT)
    cnf = tmp_path / "my.cnf"
    cnf.write_text("[client]\ndatabase = from_cnf\n")
    monkeypatch.delenv("DRUPAL_DB_URL", raising=False)
    assert resolve(None, settings, cnf).database == "d7"
    assert resolve(None, None, cnf).database == "from_cnf"
    monkeypatch.setenv("DRUPAL_DB_URL", "mysql://u@h/from_env")
    assert resolve(None, settings, cnf).database == "from_env"
    assert resolve("mysql://u@h/from_flag", settings, cnf).database == "from_flag"


def test_password_never_in_repr_or_safe_url() -> None:
    spec = from_url("mysql://admin:TopSecret99@127.0.0.1/d7")
    assert "TopSecret99" not in repr(spec)
    assert "TopSecret99" not in spec.safe_url
    assert spec.safe_url == "mysql://admin:***@127.0.0.1:3306/d7"


def test_wrong_password_error_does_not_show_it(broken_db) -> None:  # type: ignore[no-untyped-def]
    url = f"mysql://{broken_db.user}:WrongPass123@{broken_db.host}:{broken_db.port}/{broken_db.database}"
    result = CliRunner().invoke(main, ["inspect", "--db", url])
    assert result.exit_code == 3
    assert "access denied" in result.output
    assert "WrongPass123" not in result.output
    assert "Traceback" not in result.output


def test_unreachable_host_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["inspect", "--db", "mysql://u:pw@127.0.0.1:1/d7"])
    assert result.exit_code == 3
    assert result.output.strip().count("\n") == 0
    assert "cannot connect" in result.output


def test_no_credentials_at_all_says_what_to_give(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DRUPAL_DB_URL", raising=False)
    result = CliRunner().invoke(main, ["inspect"])
    assert result.exit_code == 2
    assert "--db" in result.output and "--dump" in result.output
