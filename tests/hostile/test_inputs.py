"""Hostile and unusual connection inputs: settings.php, option files, URLs, serialized data.

Every case runs the real CLI. A refused input is one line with the documented exit
code, and never shows the password; an accepted one reads the real site. The password
used throughout belongs to a real MariaDB account made for this module, so "accepted"
means the toolkit logged in with exactly the password the file spells.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from child_signals import default_sigint
from conftest import query, run_sql, url_of
from harness import REPO, CliResult, assert_no_traceback, assert_one_line_error, run_cli

from migrate.config import ConnectionSpec

SECRET = "p#w//s'x\"9Zq"
"""The test account's password: a comment sign, a URL-ish //, both quotes."""


def _php(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@pytest.fixture(scope="module")
def secret_site(broken_db: ConnectionSpec) -> Iterator[ConnectionSpec]:
    """The broken site, reached by a SELECT-only account whose password is ``SECRET``."""
    user = f"dm_inp_{uuid.uuid4().hex[:8]}"
    quoted = SECRET.replace("\\", "\\\\").replace("'", "\\'")
    hosts = ("%", "localhost", "127.0.0.1")
    for host in hosts:
        run_sql(
            broken_db,
            f"CREATE USER '{user}'@'{host}' IDENTIFIED BY '{quoted}'",
            f"GRANT SELECT ON `{broken_db.database}`.* TO '{user}'@'{host}'",
        )
    yield replace(broken_db, user=user, password=SECRET)
    for host in hosts:
        run_sql(broken_db, f"DROP USER IF EXISTS '{user}'@'{host}'")


def _settings(spec: ConnectionSpec, *, extra: str = "", comment: str = "") -> str:
    return (
        "<?php\n/**\n * Don't edit: it's 'generated'.\n */\n"
        "$databases = array(\n  'default' => array(\n    'default' => array(\n"
        f"      'driver' => 'mysql', {comment}\n"
        f"      'database' => {_php(spec.database)},\n"
        f"      'username' => {_php(spec.user)},\n"
        f"      'password' => {_php(spec.password)},\n"
        f"      'host' => {_php(spec.host)},\n"
        f"      'port' => {spec.port},{extra}\n"
        "    ),\n  ),\n);\n"
    )


def _no_secret(result: CliResult) -> None:
    assert SECRET not in result.stdout and SECRET not in result.stderr
    assert "9Zq" not in result.stdout + result.stderr


# --- settings.php ----------------------------------------------------------------------------

BAD_SETTINGS = [
    (
        "port-not-a-number",
        "$databases['default']['default'] = array('database' => 'd',"
        " 'password' => PW, 'port' => 'abc');",
        "'port'",
    ),
    (
        "port-out-of-range",
        "$databases['default']['default'] = array('database' => 'd',"
        " 'password' => PW, 'port' => 99999);",
        "'port'",
    ),
    ("default-is-a-string", "$databases['default'] = 'oops';", "$databases['default'] is not"),
    (
        "default-string-then-keyed",
        "$databases['default'] = 'oops';\n"
        "$databases['default']['default'] = array('database' => 'd', 'password' => PW);",
        "is not an array",
    ),
    ("databases-is-a-string", "$databases = 'oops';", "$databases is not an array"),
    (
        "no-default-default",
        "$databases['other']['default'] = array('database' => 'd');",
        "no $databases['default']['default']",
    ),
    (
        "driver-pgsql",
        "$databases['default']['default'] = array('driver' => 'pgsql',"
        " 'database' => 'd', 'password' => PW);",
        "driver 'pgsql'",
    ),
    (
        "database-is-an-array",
        "$databases['default']['default'] = array('database' => array(), 'password' => PW);",
        "'database'",
    ),
    (
        "password-then-junk",
        "$databases['default']['default'] = array('database' => 'd', 'password' => PW PW);",
        "cannot read $databases",
    ),
    (
        "unterminated",
        "$databases['default']['default'] = array('database' => 'd', 'password' => PW",
        "cannot read $databases",
    ),
    (
        "nested-5000",
        "$databases['default']['default'] = " + "array(" * 5000 + ")" * 5000 + ";",
        "$databases",
    ),
    (
        "prefix-with-sql",
        "$databases['default']['default'] = array('database' => 'd',"
        " 'password' => PW, 'prefix' => 'x`; DROP TABLE node; --');",
        "invalid table prefix",
    ),
    (
        "prefix-bad-database",
        "$databases['default']['default'] = array('database' => 'd',"
        " 'password' => PW, 'prefix' => array('users' => 'a`b.'));",
        "invalid database",
    ),
]


@pytest.mark.parametrize(
    ("body", "message"), [c[1:] for c in BAD_SETTINGS], ids=[c[0] for c in BAD_SETTINGS]
)
def test_bad_settings_php_is_one_line_exit_2(guarded, body: str, message: str) -> None:  # type: ignore[no-untyped-def]
    path = guarded.out / "settings.php"
    path.parent.mkdir()
    path.write_text("<?php\n" + body.replace("PW", _php(SECRET)) + "\n", encoding="utf-8")
    result = run_cli("inspect", "--settings", str(path))
    assert_one_line_error(result, 2, message)
    _no_secret(result)


COMMENTS = [
    ("slashes", "// the driver"),
    ("hash", "# the driver"),
    ("block", "/* the 'driver', with a quote */"),
    ("docblock-many-lines", "/**\n       * it's here\n       */"),
]


@pytest.mark.parametrize("comment", [c[1] for c in COMMENTS], ids=[c[0] for c in COMMENTS])
def test_settings_php_comments_inside_the_array_are_read_past(
    secret_site: ConnectionSpec, tmp_path: Path, comment: str
) -> None:
    path = tmp_path / "settings.php"
    path.write_text(_settings(secret_site, comment=comment), encoding="utf-8")
    result = run_cli("inspect", "--settings", str(path), "--format", "json")
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["core_version"] == "7.105"
    _no_secret(result)


def test_settings_php_wrong_password_never_shows_it(
    secret_site: ConnectionSpec, tmp_path: Path
) -> None:
    path = tmp_path / "settings.php"
    wrong = replace(secret_site, password=SECRET + "-wrong")
    path.write_text(_settings(wrong), encoding="utf-8")
    result = run_cli("inspect", "--settings", str(path))
    assert_one_line_error(result, 3, "access denied")
    _no_secret(result)


def test_per_table_prefix_naming_another_database(
    databases, broken_db_rw: ConnectionSpec, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """'users' => 'shared_db.': Drupal's shared user table, in another database."""
    shared = databases.create()
    run_sql(
        broken_db_rw,
        f"RENAME TABLE `{broken_db_rw.database}`.`users` TO `{shared.database}`.`users`",
    )
    users = query(shared, "SELECT COUNT(*) FROM users WHERE uid > 0")[0][0]
    path = tmp_path / "settings.php"
    extra = f"\n      'prefix' => array('default' => '', 'users' => '{shared.database}.'),"
    path.write_text(_settings(broken_db_rw, extra=extra), encoding="utf-8")
    shown = run_cli("inspect", "--settings", str(path), "--format", "json")
    assert shown.code == 0, shown.stderr
    out = tmp_path / "export"
    result = run_cli("export", "--settings", str(path), "--to", "jsonl", "--out", str(out))
    assert result.code == 0, result.stderr
    authors = [
        json.loads(line)
        for batch in sorted((out / "authors").glob("*.jsonl"))
        for line in batch.read_text(encoding="utf-8").splitlines()
    ]
    assert len(authors) == users and users > 0


# --- option files ----------------------------------------------------------------------------


def _option_file(spec: ConnectionSpec, password_line: str) -> str:
    return (
        f"# made by a test\n[client]\nuser = {spec.user}\n{password_line}\n"
        f"host={spec.host}\nport={spec.port}   # the port\n; another comment\n"
        f"database={spec.database}\n"
    )


def _escaped_double(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


GOOD_PASSWORD_LINES = [
    ("double-quoted-with-comment", lambda: f"password={_escaped_double(SECRET)}   # comment"),
    ("spaces-around-equals", lambda: f"password = {_escaped_double(SECRET)}"),
]


@pytest.mark.parametrize(
    "line", [c[1] for c in GOOD_PASSWORD_LINES], ids=[c[0] for c in GOOD_PASSWORD_LINES]
)
def test_option_file_password_as_the_mysql_client_reads_it(
    secret_site: ConnectionSpec, tmp_path: Path, line
) -> None:  # type: ignore[no-untyped-def]
    cnf = tmp_path / "my.cnf"
    cnf.write_text(_option_file(secret_site, line()), encoding="utf-8")
    client = shutil.which("mariadb") or shutil.which("mysql")
    assert client, "the mariadb client is needed"
    by_client = subprocess.run(
        [client, f"--defaults-file={cnf}", "-N", "-e", "SELECT COUNT(*) FROM node"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert by_client.returncode == 0, by_client.stderr
    result = run_cli("inspect", "--defaults-file", str(cnf), "--format", "json")
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["core_version"] == "7.105"
    _no_secret(result)


def test_option_file_with_a_utf8_bom_is_read(broken_db: ConnectionSpec, tmp_path: Path) -> None:
    cnf = tmp_path / "my.cnf"
    cnf.write_bytes(b"\xef\xbb\xbf" + _option_file(broken_db, "password=").encode("utf-8"))
    result = run_cli("inspect", "--defaults-file", str(cnf), "--format", "json")
    assert result.code == 0, result.stderr


BAD_OPTION_FILES = [
    ("utf16-le-bom", lambda t: b"\xff\xfe" + t.encode("utf-16-le"), "UTF-16"),
    ("utf16-be-bom", lambda t: b"\xfe\xff" + t.encode("utf-16-be"), "UTF-16"),
    ("latin1-bytes", lambda t: t.replace("# made", "# m\xe9de").encode("latin-1"), "not UTF-8"),
    ("option-before-group", lambda t: ("user=x\n" + t).encode(), "outside a [group]"),
    ("unclosed-group", lambda t: t.replace("[client]", "[client").encode(), "group header"),
    ("port-not-a-number", lambda t: t.replace("port=3306", "port=abc").encode(), "port"),
    ("no-database", lambda t: t.split("database=")[0].encode(), "no database="),
]


@pytest.mark.parametrize(
    ("make", "message"), [c[1:] for c in BAD_OPTION_FILES], ids=[c[0] for c in BAD_OPTION_FILES]
)
def test_bad_option_file_is_one_line_exit_2(guarded, make, message: str) -> None:  # type: ignore[no-untyped-def]
    spec = ConnectionSpec(database="d", port=3306, user="u", password=SECRET)
    text = _option_file(spec, f"password={_escaped_double(SECRET)}")
    guarded.out.mkdir()
    cnf = guarded.out / "my.cnf"
    cnf.write_bytes(make(text))
    result = run_cli("inspect", "--defaults-file", str(cnf))
    assert_one_line_error(result, 2, message)
    _no_secret(result)


# --- URLs ------------------------------------------------------------------------------------

BAD_URLS = [
    ("charset-unknown", "?charset=klingon", "charset='klingon'"),
    ("charset-latin1", "?charset=latin1", "charset='latin1'"),
    ("charset-empty", "?charset=", "charset=''"),
    ("unknown-parameter", "?sslmode=require", "unknown parameter"),
]


@pytest.mark.parametrize(
    ("query_string", "message"), [c[1:] for c in BAD_URLS], ids=[c[0] for c in BAD_URLS]
)
def test_bad_url_parameter_is_one_line_exit_2(
    secret_site: ConnectionSpec, query_string: str, message: str
) -> None:
    url = url_of(replace(secret_site, password="pw9Zq")) + query_string
    result = run_cli("inspect", "--db", url)
    assert_one_line_error(result, 2, message)
    assert "pw9Zq" not in result.stderr


@pytest.mark.parametrize("charset", ["utf8mb4", "utf8", "UTF8MB3"])
def test_url_with_a_known_charset_reads_the_site(broken_db: ConnectionSpec, charset: str) -> None:
    result = run_cli(
        "inspect", "--db", f"{url_of(broken_db)}?charset={charset}", "--format", "json"
    )
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["core_version"] == "7.105"


# --- serialized PHP in the database ----------------------------------------------------------

BAD_SERIALIZED = [
    ("integer", "'i:5;'", "is a integer, not the array"),
    ("string", "'s:3:\"abc\";'", "is a string, not the array"),
    ("truncated", "'a:2:{s:8:\"settings\";'", "malformed serialized PHP"),
    ("not-php", "'{\"json\": true}'", "malformed serialized PHP"),
    (
        "nested-3000",
        "CONCAT(REPEAT('a:1:{i:0;', 3000), 'i:1;', REPEAT('}', 3000))",
        "nested too deeply",
    ),
    ("storage-not-an-array", '\'a:1:{s:7:"storage";s:3:"sql";}\'', "no array of settings"),
]


@pytest.mark.parametrize(
    ("value", "message"), [c[1:] for c in BAD_SERIALIZED], ids=[c[0] for c in BAD_SERIALIZED]
)
def test_bad_field_config_data_is_one_line_exit_5(
    broken_db_rw: ConnectionSpec, value: str, message: str
) -> None:
    run_sql(broken_db_rw, f"UPDATE field_config SET data = {value} WHERE field_name = 'field_tags'")
    result = run_cli("audit", "--db", url_of(broken_db_rw))
    assert_one_line_error(result, 5, message)
    assert "field_tags" in result.stderr


def test_module_info_that_is_not_an_array_is_read_past(broken_db_rw: ConnectionSpec) -> None:
    """system.info of a module is only read for its version: a scalar there is no version."""
    run_sql(broken_db_rw, "UPDATE system SET info = 'b:1;' WHERE name = 'taxonomy'")
    result = run_cli("audit", "--db", url_of(broken_db_rw), "--format", "json")
    assert_no_traceback(result)
    assert result.code == 1 and json.loads(result.stdout)["summary"]["findings"] > 0


# --- Ctrl-C ----------------------------------------------------------------------------------


@pytest.mark.parametrize("workers", ["2", "0"])
def test_ctrl_c_during_an_export_is_one_line_and_the_rerun_resumes(
    broken_db: ConnectionSpec, tmp_path: Path, workers: str
) -> None:
    out = tmp_path / "out"
    args = [sys.executable, "-m", "migrate", "export", "--db", url_of(broken_db), "--to", "jsonl"]
    args += ["--out", str(out), "--workers", workers, "--batch-size", "5"]
    env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(REPO)}
    # Its own session, so the signal goes to the whole group, as a terminal sends it.
    proc = subprocess.Popen(
        args,
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
        preexec_fn=default_sigint,
    )
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if '"task": "Exporting nodes"' in line and '"done": 20,' in line:
            os.killpg(proc.pid, signal.SIGINT)
            break
    rest = proc.stderr.read()
    proc.wait(timeout=60)
    lines = [x for x in (seen + rest.splitlines()) if x.strip() and '"event"' not in x]
    assert proc.returncode == 130, "".join(lines)[-3000:]
    assert lines == ["drupal-migrate: interrupted: run the same command again to resume"], lines
    again = run_cli(*args[3:])
    assert again.code == 0, again.stderr[-2000:]
    assert "all counts reconcile" in again.stdout + again.stderr
    nids = [
        json.loads(line)["nid"]
        for batch in sorted((out / "nodes").glob("*.jsonl"))
        for line in batch.read_text(encoding="utf-8").splitlines()
    ]
    published = query(broken_db, "SELECT COUNT(*) FROM node WHERE status = 1")[0][0]
    assert len(nids) == len(set(nids)) == published
