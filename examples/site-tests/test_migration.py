"""Migration tests for a site's own repository: `pip install drupal-migrate`, then `pytest`.

The fixture is cut from the live site once, anonymized, and committed next to this file:

    drupal-migrate fixture extract --db "$DRUPAL_DB_URL" --nodes 50 --with-broken --seed 1 \
        --mapping tests/mapping.yml -o tests/fixture.sql.gz

`pytest` reads it with the embedded dump reader; `pytest --drupal-mysql mysql://root@127.0.0.1/`
(or DRUPAL_TEST_MYSQL_URL) loads it into a throwaway MariaDB database instead.
"""

from pathlib import Path

import pytest

from migrate.audit.taxonomy import FieldRef
from migrate.testing import assert_exported, assert_no_findings, assert_redirect

HERE = Path(__file__).parent
MAPPING = HERE / "mapping.yml"


@pytest.fixture
def drupal_dump():
    return HERE / "fixture.sql.gz"


@pytest.fixture
def repaired(drupal_site, drupal_repair_plan):
    """The site after my mapping's repair (applied to a copy)."""
    return drupal_site().repaired(drupal_repair_plan(mapping=MAPPING))


def test_my_mapping_remaps_every_dead_term(drupal_repair_plan):
    plan = drupal_repair_plan(mapping=MAPPING)
    assert plan.decisions, "the fixture should hold dead terms (extract it with --with-broken)"
    dropped = [d.tid for d in plan.decisions if d.action == "drop"]
    assert not dropped, f"dead terms my mapping neither remaps nor restores: {dropped}"


def test_the_repair_leaves_no_broken_taxonomy_or_links(repaired):
    report = repaired.audit(("taxonomy.*", "links.*"))
    assert_no_findings(report, "taxonomy.*", "links.*")


def test_no_node_loses_its_category(drupal_audit, drupal_export, repaired):
    before = drupal_export()
    after = drupal_export(site=repaired)
    dangling = {
        (f.entity.node, f.entity.field)
        for f in drupal_audit.result("taxonomy.dangling_field_ref").iter_findings()
        if isinstance(f.entity, FieldRef) and f.entity.current
    }
    for nid, node in before.nodes.items():
        had = {t["field"] for t in node["terms"]} | {f for n, f in dangling if n == nid}
        for field in sorted(had):

            def keeps_a_term(terms, field=field):
                return any(t["field"] == field for t in terms)

            assert_exported(after, nid=nid, fields={"terms": keeps_a_term})


def test_every_old_url_redirects(drupal_export, repaired):
    after = drupal_export(site=repaired)
    for nid, node in after.nodes.items():
        assert_redirect(after, f"/node/{nid}", node["path"])
        for alias in node["aliases"]:
            assert_redirect(after, f"/{alias}", node["path"])
