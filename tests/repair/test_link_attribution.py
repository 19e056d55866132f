"""The audit and ``recover`` read body links with one parser and attribute them one way."""

from __future__ import annotations

from conftest import BROKEN_DUMP, run_sql

from migrate import api
from migrate.audit.context import AuditContext
from migrate.audit.links import ALIAS_REMOVED, NORMAL_PATH, BodyLinkRoute
from migrate.config import ConnectionSpec
from migrate.links import term_id_of
from migrate.source import DumpSpec, SourceSpec


def _audited(spec: SourceSpec) -> tuple[dict[str, int], dict[int, set[str]]]:
    """(lost alias → tid, tid → texts of direct links) as links.broken_term_routes says."""
    report = api.audit(spec, ["links.broken_term_routes"])
    try:
        routes = [
            f.entity
            for f in report.result("links.broken_term_routes").iter_findings()
            if isinstance(f.entity, BodyLinkRoute) and f.entity.tid is not None
        ]
    finally:
        report.close()
    lost = {e.path: e.tid for e in routes if e.kind == ALIAS_REMOVED and e.tid is not None}
    direct: dict[int, set[str]] = {}
    for e in routes:
        label = " ".join(e.text.lstrip("»›>").split())
        exact = e.tid is not None and term_id_of(e.path, exact=True) == e.tid
        if e.kind == NORMAL_PATH and e.tid is not None and label and exact:
            direct.setdefault(e.tid, set()).add(label)
    return lost, direct


def _recovered(spec: SourceSpec) -> tuple[dict[str, int], dict[int, set[str]]]:
    """The same two maps from ``recover``'s body-link evidence."""
    recovery = api.recover(spec).recovery
    lost: dict[str, int] = {}
    direct: dict[int, set[str]] = {}
    for term in recovery.terms.values():
        for e in term.evidence:
            if e.source != "body link":
                continue
            if e.alias:
                lost[e.alias] = term.tid
            elif e.name:
                direct.setdefault(term.tid, set()).add(e.name)
    return lost, direct


def test_audit_and_recover_agree_on_the_bundled_site(tmp_path):
    spec = DumpSpec(BROKEN_DUMP, cache_dir=tmp_path / "cache")
    audited, recovered = _audited(spec), _recovered(spec)
    assert audited == recovered
    lost, direct = audited
    assert lost == {
        "tin-tuc/tin-cong-doan": 5,
        "tin-tuc/tin-dao-tao": 9,
        "tin-tuc/tin-dao-tao/dai-hoc-chinh-quy": 10,
        "tin-tuc/tin-dao-tao/sau-dai-hoc": 11,
    }
    assert direct  # links straight to /taxonomy/term/N give names too


def test_a_link_kept_by_a_node_whose_old_revision_held_the_term(broken_db_rw: ConnectionSpec):
    """The node's current revision no longer references the dead term; an old one does.

    Both read the same any-revision references, so both attribute the lost alias."""
    with api.connect(broken_db_rw) as site:
        ctx = AuditContext(site)
        dead_everywhere = ctx.dead_terms_by_node
        tid = 35
        assert tid not in ctx.aliased_tids
        nid, vid = next(
            (int(n), int(v))
            for n, v in site.source.rows("SELECT nid, vid FROM {node} ORDER BY nid")
            if int(n) not in dead_everywhere
        )
    link = '<p><a href="/chuyen-muc/ky-niem-cu">Kỷ niệm cũ</a></p>'
    run_sql(
        broken_db_rw,
        "INSERT INTO field_revision_field_chuyen_muc (entity_type, bundle, deleted, entity_id,"
        f" revision_id, language, delta, field_chuyen_muc_tid) VALUES ('node', 'article', 0,"
        f" {nid}, {vid + 100000}, 'und', 0, {tid})",
        f"UPDATE field_data_body SET body_value = CONCAT(body_value, '{link}')"
        f" WHERE entity_id = {nid}",
        "UPDATE field_revision_body SET body_value = CONCAT(body_value, '" + link + "')"
        f" WHERE entity_id = {nid} AND revision_id = {vid}",
    )
    audited, recovered = _audited(broken_db_rw), _recovered(broken_db_rw)
    assert audited == recovered
    assert audited[0]["chuyen-muc/ky-niem-cu"] == tid
