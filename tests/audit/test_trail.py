"""The breadcrumb model, table by table: what taxonomy_breadcrumb computes from what it reads."""

from __future__ import annotations

from conftest import query

from migrate.audit.trail import CORE_HOME, TrailModel, TrailTerm, TrailVocabulary, collation_key


def _model(**kw: object) -> TrailModel:
    vocabularies = {1: TrailVocabulary(1, "Tags", 0), 2: TrailVocabulary(2, "Sections", -10)}
    terms = {
        1: TrailTerm(1, 2, "News", 0),
        2: TrailTerm(2, 2, "Party", 0),
        3: TrailTerm(3, 2, "Cell", 0),
        4: TrailTerm(4, 2, "Admissions", 9),
        5: TrailTerm(5, 2, "Notices", 1),
        6: TrailTerm(6, 1, "alpha", 0),
        7: TrailTerm(7, 1, "beta", 0),
    }
    parents = {1: (0,), 2: (1,), 3: (2,), 4: (2, 5), 5: (0,), 6: (0,), 7: (0,)}
    return TrailModel(terms, vocabularies, parents, home="Start", **kw)  # type: ignore[arg-type]


def test_collation_matches_mariadb_order_of_every_term_name(clean_db):
    names = [
        r[0] for r in query(clean_db, "SELECT name FROM taxonomy_term_data ORDER BY name, tid")
    ]
    assert sorted(names, key=collation_key) == names


def test_lightest_vocabulary_wins_then_the_tree_picks_the_term():
    model = _model()
    assert model.lightest_term({6, 7}) == 6  # same weight: by name
    assert model.lightest_term({7, 3}) == 3  # Sections is lighter than Tags
    assert model.lightest_term({5, 3}) == 3  # the tree meets News' subtree first
    assert model.node_trail({3, 7}) == ("Start", "News", "Party", "Cell")


def test_a_term_the_tree_cannot_reach_falls_back_to_core_home():
    whole = _model()
    # News is gone: Party and Cell hang under a dead parent.
    terms = {tid: term for tid, term in whole.terms.items() if tid != 1}
    model = TrailModel(terms, whole.vocabularies, whole.parents, home="Start")
    # Two Sections terms, neither reachable from the root: the module returns nothing.
    assert model.lightest_term({2, 3}) is None
    assert model.node_trail({2, 3}) == (CORE_HOME,)
    # A single term needs no tree: its trail just loses the dead ancestor.
    assert model.node_trail({3}) == ("Start", "Party", "Cell")


def test_parents_all_stops_at_the_first_term_without_parents():
    # taxonomy_get_parents_all() walks while the n-th term found has parents: after
    # Admissions come its parents Notices (weight 1) and Party (weight 0) by weight,
    # Party first; then Party's parent News; then Notices has none and the walk ends.
    model = _model()
    assert model.parents_all(4) == [4, 2, 5, 1]
    assert model.term_trail(4) == ("Start", "News", "Notices", "Party", "Admissions")


def test_term_paths_none_hides_a_crumb_and_vocabulary_paths_add_one():
    model = _model(term_paths={2: "<none>"}, vocabulary_paths={2: "sections"})
    assert model.term_trail(3) == ("Start", "Sections", "News", "Cell")
    empty_home = _model()
    empty_home.home = ""
    assert empty_home.term_trail(1) == ("News",)
