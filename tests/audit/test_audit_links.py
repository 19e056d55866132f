"""Every stored route to a broken term page is found: aliases, menus, breadcrumb paths, bodies."""

from __future__ import annotations

import audit_fixtures

from migrate import api
from migrate.audit import links as links_module
from migrate.audit.links import needles_for

broken_report = audit_fixtures.broken_report
clean_report = audit_fixtures.clean_report

# The parser and id helpers are tested in tests/test_links.py.


def _route(report, table):
    return [
        f.entity.to_dict()
        for f in report.result("links.broken_term_routes").findings
        if f.entity.to_dict()["table"] == table
    ]


def test_leftover_term_aliases(broken_report, ground_truth):
    found = {
        (e["pid"], e["source"], e["alias"], e["tid"]) for e in _route(broken_report, "url_alias")
    }
    assert found == {
        (r["pid"], r["source"], r["alias"], r["tid"])
        for r in ground_truth["url_alias_to_unloadable_terms"]
    }


def test_menu_links_to_deleted_terms(broken_report, ground_truth):
    found = {
        (e["mlid"], e["path"], e["menu_name"], e["tid"])
        for e in _route(broken_report, "menu_links")
    }
    assert found == {
        (r["mlid"], r["link_path"], r["menu_name"], r["tid"])
        for r in ground_truth["menu_links_to_unloadable_terms"]
    }


def test_orphan_taxonomy_breadcrumb_term_rows(broken_report, ground_truth):
    found = {(e["tid"], e["path"]) for e in _route(broken_report, "taxonomy_breadcrumb_term")}
    assert found == {
        (r["tid"], r["path"]) for r in ground_truth["taxonomy_breadcrumb_term_orphans"]
    }


def test_body_links_to_broken_term_pages(broken_report, ground_truth):
    findings = [
        f
        for f in broken_report.result("links.broken_term_routes").findings
        if f.entity.to_dict()["table"].endswith("_body")
    ]
    found = {
        (e["table"], e["nid"], e["vid"], e["href"], e["tid"], e["kind"], e["current"])
        for e in (f.entity.to_dict() for f in findings)
    }
    expected = {
        (
            r["table"],
            r["nid"],
            r["vid"],
            r["href"],
            r["tid"],
            r["link_kind"],
            r["is_current_revision"],
        )
        for r in ground_truth["body_links_to_broken_term_pages"]
    }
    assert found == expected
    assert len(findings) == 30
    assert all(f.entity.to_dict()["title"] for f in findings)


def test_clean_site_has_no_broken_routes(clean_report):
    assert clean_report.result("links.broken_term_routes").count == 0


def test_many_dead_aliases_are_searched_by_their_first_path_segment():
    words = ["taxonomy/term/", *(f"tu-khoa/tag-{n}" for n in range(20)), "olympic"]
    assert needles_for(words) == ["olympic", "taxonomy/", "tu-khoa/"]
    assert needles_for(words[:3]) == words[:3]


def test_grouped_needles_find_the_same_body_links(broken_db, broken_report, monkeypatch):
    """The fixture's six dead aliases, looked for by segment, give the same findings."""
    monkeypatch.setattr(links_module, "MAX_NEEDLES", 1)
    grouped = api.audit(broken_db, ["links.*", "breadcrumb.notice_pages"])
    try:
        for check_id in ("links.broken_term_routes", "breadcrumb.notice_pages"):
            assert [f.to_dict() for f in grouped.result(check_id).findings] == [
                f.to_dict() for f in broken_report.result(check_id).findings
            ]
    finally:
        grouped.close()
