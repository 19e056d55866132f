"""`drupal-migrate inspect`: the figures a new admin sees match the fixture's ground truth."""

from __future__ import annotations

import json

from click.testing import CliRunner
from conftest import url_of

from migrate import api
from migrate.cli import main


def test_inspect_figures_match_ground_truth(broken_db, ground_truth) -> None:  # type: ignore[no-untyped-def]
    counts = ground_truth["counts_broken"]
    report = api.inspect(broken_db)
    assert report.core_version == ground_truth["drupal"]["core_version"]
    assert report.prefix == ground_truth["drupal"]["table_prefix"]
    assert report.charset and report.charset.startswith("utf8mb3")
    by_type = {c.type: c for c in report.content_types}
    assert {t: c.published + c.unpublished for t, c in by_type.items()} == counts["nodes_by_type"]
    assert sum(c.published for c in by_type.values()) == counts["nodes_published"]
    assert sum(c.unpublished for c in by_type.values()) == counts["nodes_unpublished"]
    vocabularies = {v.machine_name: v for v in report.vocabularies}
    assert {
        m: {"vid": v.vid, "name": v.name, "terms": v.terms} for m, v in vocabularies.items()
    } == (counts["vocabularies"])
    assert vocabularies["chuyen_muc"].depth == 3
    formats = {f.format: f.nodes for f in report.text_formats if f.nodes}
    assert formats == counts["text_formats_in_body"]
    fields = {f.field_name for f in report.term_reference_fields}
    assert fields == set(counts["term_reference_field_rows"])
    modules = {m.name: m.enabled for m in report.modules}
    assert modules["taxonomy_breadcrumb"] and modules["path"] and not modules["pathauto"]


def test_inspect_clean_fixture_has_four_vocabularies(clean_db, ground_truth) -> None:  # type: ignore[no-untyped-def]
    report = api.inspect(clean_db)
    assert {v.machine_name: v.terms for v in report.vocabularies} == {
        m: v["terms"] for m, v in ground_truth["counts_clean"]["vocabularies"].items()
    }


def test_inspect_json_has_stable_keys(broken_db) -> None:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(main, ["inspect", "--db", url_of(broken_db), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert list(data) == [
        "source",
        "core_version",
        "schema_version",
        "prefix",
        "charset",
        "site_name",
        "content_types",
        "vocabularies",
        "term_reference_fields",
        "text_fields",
        "file_fields",
        "text_formats",
        "modules",
    ]
    assert data["site_name"] == "Trường Đại học - Cổng thông tin"


def test_inspect_table_output(broken_db) -> None:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(main, ["inspect", "--db", url_of(broken_db)])
    assert result.exit_code == 0, result.output
    assert "Drupal core:   7.105" in result.output
    assert "field_chuyen_muc_tid" in result.output
    assert "taxonomy_breadcrumb  yes" in result.output


def test_inspect_reads_credentials_from_settings_php(broken_db, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = tmp_path / "settings.php"
    settings.write_text(
        "<?php\n$databases['default']['default'] = array(\n"
        f"  'driver' => 'mysql', 'database' => '{broken_db.database}',\n"
        f"  'username' => '{broken_db.user}', 'password' => '{broken_db.password}',\n"
        f"  'host' => '{broken_db.host}', 'port' => {broken_db.port}, 'prefix' => '',\n);\n"
    )
    result = CliRunner().invoke(main, ["inspect", "--settings", str(settings), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["core_version"] == "7.105"


def test_inspect_reads_credentials_from_option_file(broken_db, tmp_path) -> None:  # type: ignore[no-untyped-def]
    cnf = tmp_path / "my.cnf"
    cnf.write_text(
        f"[client]\nuser={broken_db.user}\npassword={broken_db.password}\n"
        f"host={broken_db.host}\nport={broken_db.port}\ndatabase={broken_db.database}\n"
    )
    result = CliRunner().invoke(main, ["inspect", "--defaults-file", str(cnf), "--format", "json"])
    assert result.exit_code == 0, result.output


def test_missing_table_is_one_line(databases, broken_db) -> None:  # type: ignore[no-untyped-def]
    spec = databases.create()
    databases.load(
        spec.database,
        "".join(
            f"CREATE TABLE `{t}` LIKE `{broken_db.database}`.`{t}`;"
            f" INSERT INTO `{t}` SELECT * FROM `{broken_db.database}`.`{t}`;"
            for t in ("system", "variable", "field_config", "field_config_instance", "node")
        ),
    )
    result = CliRunner().invoke(main, ["inspect", "--db", url_of(spec)])
    assert result.exit_code == 5
    assert "missing table(s): node_revision, taxonomy_vocabulary" in result.output
    assert "Traceback" not in result.output
