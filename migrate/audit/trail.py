"""What taxonomy_breadcrumb 7.x-1.x shows on a node page, from exactly what it reads.

The module never looks at the field tables. ``_taxonomy_breadcrumb_node_get_lightest_term()``
reads ``taxonomy_index`` INNER JOIN ``taxonomy_term_data`` INNER JOIN
``taxonomy_vocabulary``, takes the vocabulary with the lowest (weight, name), and
when the node has several terms in it, the first one ``taxonomy_get_tree()`` meets
(depth first from the root, children by weight then name). The trail is then
``taxonomy_get_parents_all()`` of that term reversed, behind the "home" text and the
vocabulary's breadcrumb path. No term found means the module sets nothing and core's
own "Home" breadcrumb shows.

Everything here is pure: a ``TrailModel`` is built once (from the live tables, or
from a reconstruction of what they held before the breakage) and asked per node.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

CORE_HOME = "Home"


def collation_key(text: str) -> tuple[int, ...]:
    """Sort key of MySQL's utf8_general_ci, the collation Drupal 7 creates tables with.

    Accents of letters that decompose are ignored (``ạ`` = ``a``, ``ơ`` = ``o``),
    case is ignored, ``đ``/``Đ`` stay one letter after ``z``, trailing spaces are
    ignored (PAD SPACE).
    """
    out = []
    for char in text.rstrip(" "):
        base = unicodedata.normalize("NFD", char)[0]
        out.append(ord(base.upper()) if len(base.upper()) == 1 else ord(base))
    return tuple(out)


@dataclass(frozen=True)
class TrailTerm:
    tid: int
    vid: int
    name: str
    weight: int


@dataclass(frozen=True)
class TrailVocabulary:
    vid: int
    name: str
    weight: int


@dataclass
class TrailModel:
    """The tables the module reads, as it sees them.

    ``terms`` holds only terms ``taxonomy_term_load()`` returns (row and vocabulary
    present); ``parents`` every hierarchy row, dangling or not (the tree and the
    parent walk skip what does not load, as core does).

    A model is asked about every affected node of a site (hundreds of thousands), so
    what depends on a term or a vocabulary alone (sort keys, tree positions, a term's
    trail) is computed once and kept: build the model whole, then ask.
    """

    terms: dict[int, TrailTerm]
    vocabularies: dict[int, TrailVocabulary]
    parents: dict[int, tuple[int, ...]]
    term_paths: dict[int, str] = field(default_factory=dict)
    vocabulary_paths: dict[int, str] = field(default_factory=dict)
    home: str = CORE_HOME
    _tree: dict[int, list[int]] = field(default_factory=dict, init=False, repr=False)
    _place: dict[int, dict[int, int]] = field(default_factory=dict, init=False, repr=False)
    _keys: dict[int, tuple[int, tuple[int, ...], int]] = field(
        default_factory=dict, init=False, repr=False
    )
    _vocabulary_keys: dict[int, tuple[int, tuple[int, ...], int]] = field(
        default_factory=dict, init=False, repr=False
    )
    _trails: dict[int, tuple[str, ...]] = field(default_factory=dict, init=False, repr=False)

    def _order(self, tid: int) -> tuple[int, tuple[int, ...], int]:
        key = self._keys.get(tid)
        if key is None:
            term = self.terms[tid]
            key = self._keys[tid] = (term.weight, collation_key(term.name), tid)
        return key

    def _vocabulary_order(self, vid: int) -> tuple[int, tuple[int, ...], int]:
        key = self._vocabulary_keys.get(vid)
        if key is None:
            vocabulary = self.vocabularies[vid]
            key = (vocabulary.weight, collation_key(vocabulary.name), vid)
            self._vocabulary_keys[vid] = key
        return key

    def tree(self, vid: int) -> list[int]:
        """``taxonomy_get_tree($vid)`` as a list of tids (a multi-parent term repeats)."""
        if vid in self._tree:
            return self._tree[vid]
        children: dict[int, list[int]] = {}
        in_vocabulary = sorted(
            (t for t in self.terms.values() if t.vid == vid), key=lambda t: self._order(t.tid)
        )
        for term in in_vocabulary:
            for parent in self.parents.get(term.tid, ()):
                children.setdefault(parent, []).append(term.tid)
        max_depth = len(children)
        out: list[int] = []

        def walk(parent: int, depth: int) -> None:
            if depth >= max_depth:
                return
            for child in children.get(parent, ()):
                out.append(child)
                walk(child, depth + 1)

        walk(0, 0)
        self._tree[vid] = out
        return out

    def _places(self, vid: int) -> dict[int, int]:
        """tid → where ``taxonomy_get_tree($vid)`` first meets it."""
        if vid not in self._place:
            place: dict[int, int] = {}
            for position, tid in enumerate(self.tree(vid)):
                place.setdefault(tid, position)
            self._place[vid] = place
        return self._place[vid]

    def lightest_term(self, index_tids: Iterable[int]) -> int | None:
        """``_taxonomy_breadcrumb_node_get_lightest_term()`` for a node's index rows."""
        tids = {t for t in index_tids if t in self.terms and self.terms[t].vid in self.vocabularies}
        if not tids:
            return None
        vid = min({self.terms[t].vid for t in tids}, key=self._vocabulary_order)
        mine = [t for t in tids if self.terms[t].vid == vid]
        if len(mine) == 1:
            return mine[0]
        place = self._places(vid)
        met = [t for t in mine if t in place]
        return min(met, key=place.__getitem__) if met else None

    def parents_all(self, tid: int) -> list[int]:
        """``taxonomy_get_parents_all()``: walks on while the n-th term found has parents."""
        if tid not in self.terms:
            return []
        found = [tid]
        n = 0
        while n < len(found) and len(found) < 1000:
            above = sorted(
                (p for p in self.parents.get(found[n], ()) if p in self.terms),
                key=self._order,
            )
            if not above:
                break
            found.extend(above)
            n += 1
        return found

    def term_trail(self, tid: int) -> tuple[str, ...]:
        """``_taxonomy_breadcrumb_generate_breadcrumb($tid)``: the crumbs' texts."""
        if tid in self._trails:
            return self._trails[tid]
        crumbs = [self.home] if self.home != "" else []
        vid = self.terms[tid].vid
        if self.vocabulary_paths.get(vid):
            crumbs.append(self.vocabularies[vid].name)
        for parent in reversed(self.parents_all(tid)):
            if self.term_paths.get(parent) == "<none>":
                continue
            crumbs.append(self.terms[parent].name)
        self._trails[tid] = trail = tuple(crumbs)
        return trail

    def node_trail(self, index_tids: Iterable[int]) -> tuple[str, ...]:
        """The breadcrumb of a node page whose ``taxonomy_index`` rows hold these tids."""
        tid = self.lightest_term(index_tids)
        return (CORE_HOME,) if tid is None else self.term_trail(tid)
