"""The pages that show the line-92 warning, and node pages whose breadcrumb silently changed."""

from __future__ import annotations

import audit_fixtures
from conftest import run_sql

broken_report = audit_fixtures.broken_report
clean_report = audit_fixtures.clean_report


def test_exactly_the_seventeen_notice_urls(broken_report, ground_truth):
    expected = {
        (p["path"], p["tid"], p["is_alias_of"])
        for p in ground_truth["pages"]["show_line_92_warning"]
    }
    found = {
        (e["path"], e["tid"], e["alias_of"])
        for e in (f.entity for f in broken_report.result("breadcrumb.notice_pages").findings)
    }
    assert found == expected
    assert len(found) == 17


def test_notice_pages_say_why_and_how_visitors_get_there(broken_report, ground_truth):
    by_path = {
        f.entity["path"]: f for f in broken_report.result("breadcrumb.notice_pages").findings
    }
    truth = {p["path"]: p for p in ground_truth["pages"]["show_line_92_warning"]}
    for path, finding in by_path.items():
        state = truth[path]["term_state"].replace("term_row_present_but_", "")
        assert finding.entity["term_state"] == state
        assert finding.entity["http_status"] == 404
    term2 = by_path["/taxonomy/term/2"].entity
    assert [m["mlid"] for m in term2["menu_links"]] == [268]
    assert term2["linking_nodes"] == [78, 121, 205]
    assert term2["also"] == ["/taxonomy/term/2/feed", "/taxonomy/term/2/edit"]
    assert term2["breadcrumb_term_row"] is True
    assert by_path["/tin-tuc/tin-dang-uy"].entity["linking_nodes"] == [56, 70]
    assert "menu link" in by_path["/taxonomy/term/9"].message


def test_no_node_page_is_a_notice_page(broken_report):
    paths = [f.entity["path"] for f in broken_report.result("breadcrumb.notice_pages").findings]
    assert not [p for p in paths if p.startswith("/node/")]


def test_silent_breadcrumb_changes(broken_report, ground_truth):
    truth = {
        p["path"] for p in ground_truth["pages"]["node_pages_whose_breadcrumb_changed_silently"]
    }
    findings = broken_report.result("breadcrumb.silent_changes").findings
    certain = {f.entity["path"] for f in findings if f.entity["kind"] != "may_have_changed"}
    possible = {f.entity["path"] for f in findings}
    # A dead term's weight is gone, so a tie inside one vocabulary can only be a "maybe".
    assert certain <= truth <= possible
    assert len(certain) == 86
    assert len(possible - truth) == 3


def test_clean_site_has_no_notice_pages_or_silent_changes(clean_report):
    assert clean_report.result("breadcrumb.notice_pages").count == 0
    assert clean_report.result("breadcrumb.silent_changes").count == 0


def test_no_notice_pages_when_site_404_is_set(broken_db_rw):
    from migrate import api

    run_sql(
        broken_db_rw, "INSERT INTO variable (name, value) VALUES ('site_404', 's:8:\"node/404\";')"
    )
    report = api.audit(broken_db_rw, ["breadcrumb.notice_pages"])
    assert report.result("breadcrumb.notice_pages").count == 0
