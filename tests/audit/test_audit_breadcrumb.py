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
        for e in (
            f.entity.to_dict() for f in broken_report.result("breadcrumb.notice_pages").findings
        )
    }
    assert found == expected
    assert len(found) == 17


def test_notice_pages_say_why_and_how_visitors_get_there(broken_report, ground_truth):
    by_path = {
        f.entity.to_dict()["path"]: f
        for f in broken_report.result("breadcrumb.notice_pages").findings
    }
    truth = {p["path"]: p for p in ground_truth["pages"]["show_line_92_warning"]}
    for path, finding in by_path.items():
        state = truth[path]["term_state"].replace("term_row_present_but_", "")
        assert finding.entity.to_dict()["term_state"] == state
        assert finding.entity.to_dict()["http_status"] == 404
    term2 = by_path["/taxonomy/term/2"].entity.to_dict()
    assert [m["mlid"] for m in term2["menu_links"]] == [268]
    assert term2["linking_nodes"] == [78, 121, 205]
    assert term2["also"] == ["/taxonomy/term/2/feed", "/taxonomy/term/2/edit"]
    assert term2["breadcrumb_term_row"] is True
    assert by_path["/tin-tuc/tin-dang-uy"].entity.to_dict()["linking_nodes"] == [56, 70]
    assert "menu link" in by_path["/taxonomy/term/9"].message


def test_no_node_page_is_a_notice_page(broken_report):
    paths = [
        f.entity.to_dict()["path"] for f in broken_report.result("breadcrumb.notice_pages").findings
    ]
    assert not [p for p in paths if p.startswith("/node/")]


def test_silent_breadcrumb_changes_are_exactly_the_crawled_ones(broken_report, ground_truth):
    truth = {
        p["path"]: (p["breadcrumb_clean"], p["breadcrumb_broken"])
        for p in ground_truth["pages"]["node_pages_whose_breadcrumb_changed_silently"]
    }
    findings = broken_report.result("breadcrumb.silent_changes").findings
    found = {
        f.entity.to_dict()["path"]: (
            f.entity.to_dict()["old_trail"],
            f.entity.to_dict()["new_trail"],
        )
        for f in findings
    }
    assert len(findings) == len(found) == 91
    assert found == truth
    # Changed whatever the lost vocabulary's weight was; where the old trail itself
    # depends on it (nodes with a chuyen_de term), the finding says so.
    assert all(f.entity.to_dict()["certain"] for f in findings)
    unsure = {
        f.entity.to_dict()["nid"] for f in findings if not f.entity.to_dict()["old_trail_exact"]
    }
    lost_vocabulary = {
        ref["nid"]
        for ref in ground_truth["broken_field_references"]
        if ref["vocabulary_in_clean_db"] == "chuyen_de" and ref["is_current_revision"]
    }
    assert unsure and unsure <= lost_vocabulary
    kinds = {f.entity.to_dict()["kind"] for f in findings}
    assert kinds == {"falls_back_to_home", "lightest_term_gone", "ancestor_gone"}
    home = [f for f in findings if f.entity.to_dict()["kind"] == "falls_back_to_home"]
    assert all(f.entity.to_dict()["new_trail"] == ["Home"] for f in home)


def test_silent_changes_follow_the_index_not_the_fields(broken_db_rw, ground_truth):
    """The module reads taxonomy_index: a stale index row changes the trail."""
    from migrate import api

    # Node 6's only category (tid 2) is gone; a stale index row to live term 7 gives it
    # a trail again (Trang chủ › Tin tức › Tin Đoàn - Hội › Hoạt động tình nguyện).
    run_sql(
        broken_db_rw, "INSERT INTO taxonomy_index (nid, tid, sticky, created) VALUES (6, 7, 0, 0)"
    )
    report = api.audit(broken_db_rw, ["breadcrumb.silent_changes"])
    by_path = {
        f.entity.to_dict()["path"]: f.entity.to_dict()
        for f in report.result("breadcrumb.silent_changes").findings
    }
    assert by_path["/node/6"]["new_trail"] == [
        "Trang chủ",
        "Tin tức",
        "Tin Đoàn - Hội",
        "Hoạt động tình nguyện",
    ]
    assert by_path["/node/6"]["kind"] == "lightest_term_gone"


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
