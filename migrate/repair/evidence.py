"""Recovering what was deleted: names, vocabularies, parents and weights of missing terms.

Drupal forgets a term's row but not every trace of it. Each trace becomes an
``Evidence`` record naming where it was found and how far to trust it:

* ``high``: the site said so itself (watchdog messages with the tid in their
  link, surviving hierarchy rows, a field that allows exactly one vocabulary);
* ``medium``: an editor typed it next to the term's path (a menu link title, the
  text of a body link to ``taxonomy/term/N`` or to the term's old alias);
* ``low``: reconstructed (a name rebuilt from the alias slug and the search
  index, which stores text lower-cased).

The planner restores a term only from ``medium`` or better names.
"""

from __future__ import annotations

import gzip
import hashlib
import html
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import lxml.etree
import lxml.html

from migrate.audit.trail import collation_key
from migrate.errors import SchemaError
from migrate.links import (
    AliasResolver,
    anchors,
    parse_internal_href,
    term_id_of,
)
from migrate.phpdata import unserialize, unserialize_bytes
from migrate.schema import Drupal7

CONFIDENCE = {"high": 3, "medium": 2, "low": 1}

_VOCAB_LINK = re.compile(r"admin/structure/taxonomy/([a-z0-9_]+)")
_CHUNK = 500
# Widgets that list a vocabulary in taxonomy_get_tree() order and save choices in it.
_OPTIONS_WIDGETS = ("options_select", "options_buttons")


@dataclass(frozen=True)
class Evidence:
    """One trace of a missing term: where it was found and what it says."""

    source: str
    detail: str
    confidence: str
    name: str | None = None
    vocabulary: str | None = None
    parent: int | None = None
    weight: int | None = None
    alias: str | None = None
    description: str | None = None
    format: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class MissingTerm:
    """A tid that is referenced but does not load, with everything known about it."""

    tid: int
    state: str
    vid: int | None = None
    evidence: list[Evidence] = field(default_factory=list)

    def _best(self, attr: str, minimum: str = "low") -> Evidence | None:
        found = [
            e
            for e in self.evidence
            if getattr(e, attr) is not None and CONFIDENCE[e.confidence] >= CONFIDENCE[minimum]
        ]
        return max(found, key=lambda e: CONFIDENCE[e.confidence]) if found else None

    def name(self, minimum: str = "medium") -> str | None:
        best = self._best("name", minimum)
        return best.name if best else None

    @property
    def name_confidence(self) -> str | None:
        best = self._best("name")
        return best.confidence if best else None

    @property
    def vocabulary(self) -> str | None:
        best = self._best("vocabulary")
        return best.vocabulary if best else None

    @property
    def parents(self) -> list[int]:
        """Own hierarchy rows win; otherwise the best single guess; otherwise the root."""
        strong = sorted(
            {e.parent for e in self.evidence if e.parent is not None and e.confidence == "high"}
        )
        if strong:
            return strong
        best = self._best("parent")
        return [best.parent] if best and best.parent is not None else [0]

    @property
    def weight(self) -> int:
        best = self._best("weight")
        return best.weight if best and best.weight is not None else 0

    @property
    def alias(self) -> str | None:
        best = self._best("alias")
        return best.alias if best else None

    def described(self, minimum: str = "medium") -> Evidence | None:
        """The best evidence of the description (and its text format), if any is good enough."""
        return self._best("description", minimum)

    def value_sources(self) -> list[str]:
        """Where each value a restore writes comes from, and how sure it is."""
        out = []
        for attr in ("name", "vocabulary", "parent", "weight", "alias"):
            best = self._best(attr)
            if best is not None:
                out.append(f"{attr}: {best.source} ({best.confidence})")
            elif attr in ("weight", "parent"):
                out.append(f"{attr}: no evidence, Drupal's default")
        used, weak = self.described(), self.described("low")
        if used is not None:
            out.append(f"description: {used.source} ({used.confidence})")
        elif weak is not None:
            out.append(
                f"description: left empty, only {weak.source} ({weak.confidence}) gives one,"
                f" restoring needs medium or better: {weak.detail}"
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "tid": self.tid,
            "state": self.state,
            "name": self.name("low"),
            "name_confidence": self.name_confidence,
            "vocabulary": self.vocabulary,
            "parents": self.parents,
            "weight": self.weight,
            "alias": self.alias,
            "description": (found := self.described("low")) and found.description,
            "format": found and found.format,
            "evidence": [e.to_dict() for e in self.evidence],
        }


@dataclass
class MissingVocabulary:
    """A vid that terms still carry but ``taxonomy_vocabulary`` lost."""

    vid: int
    machine_name: str | None
    name: str | None
    evidence: list[Evidence] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "vid": self.vid,
            "machine_name": self.machine_name,
            "name": self.name,
            "evidence": [e.to_dict() for e in self.evidence],
        }


@dataclass
class Recovery:
    terms: dict[int, MissingTerm]
    vocabularies: dict[int, MissingVocabulary]

    def to_dict(self) -> dict[str, Any]:
        return {
            "terms": [t.to_dict() for t in self.terms.values()],
            "vocabularies": [v.to_dict() for v in self.vocabularies.values()],
        }


def fold(text: str) -> str:
    """ASCII words the way pathauto makes slugs: 'Sinh viên 5 tốt' → 'sinh-vien-5-tot'."""
    text = text.replace("đ", "d").replace("Đ", "D")
    plain = "".join(
        c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)
    ).lower()
    return "-".join(re.findall(r"[a-z0-9]+", plain))


def _page_path(cid: str) -> str:
    """The Drupal path of a cache_page key (the page's absolute URL)."""
    parts = urlsplit(cid)
    path = unquote(parts.path).strip("/")
    if path in ("", "index.php") and parts.query.startswith("q="):
        path = unquote(parts.query[2:].split("&", 1)[0]).strip("/")
    return path


def _cached_html(data: Any, where: str) -> tuple[str | None, str | None, list[str]] | None:
    """(title, description HTML, breadcrumb link paths) of a cached page, or None.

    Drupal stores ``serialize(array('path' => …, 'body' => …, …))``, the body gzipped
    when page compression is on.
    """
    try:
        cached = unserialize_bytes(data, where)
    except SchemaError:
        return None
    body = cached.get(b"body") if isinstance(cached, dict) else None
    if not isinstance(body, bytes) or not body:
        return None
    if body[:2] == b"\x1f\x8b":
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError):
            return None
    try:
        root = lxml.html.document_fromstring(body.decode("utf-8", "replace"))
    except (lxml.etree.ParserError, ValueError):
        return None
    title = " ".join(
        " ".join(t.text_content().split()) for t in root.xpath("//h1[@id='page-title']")
    )
    block = root.xpath("//div[contains(concat(' ', @class, ' '), ' taxonomy-term-description ')]")
    description = None
    if block:
        inner = (block[0].text or "") + "".join(
            lxml.html.tostring(child, encoding="unicode") for child in block[0]
        )
        description = inner.strip() or None
    crumbs = []
    for link in root.xpath("//div[contains(concat(' ', @class, ' '), ' breadcrumb ')]//a[@href]"):
        internal = parse_internal_href(html.unescape(str(link.get("href"))))
        if internal is not None and internal.path:
            crumbs.append(internal.path)
    return title or None, description, crumbs


def _linked_tid(link: str) -> int | None:
    """The term a watchdog row's link (``<a href="/taxonomy/term/5/edit">``) is about."""
    for href, _ in anchors(link):
        internal = parse_internal_href(href.strip())
        if internal is not None and (tid := term_id_of(internal.path)) is not None:
            return tid
    return None


class LinkFact(Protocol):
    """A body link to a dead term as the audit found and attributed it."""

    @property
    def nid(self) -> int: ...
    @property
    def href(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def tid(self) -> int | None: ...
    @property
    def kind(self) -> str: ...


def _audited_links(site: Drupal7) -> Sequence[LinkFact]:
    """The audit's body links of this site (scan and attribution of migrate.audit.links)."""
    from migrate.audit.context import AuditContext
    from migrate.audit.links import body_links

    return body_links(AuditContext(site))


class _Recoverer:
    def __init__(
        self, site: Drupal7, missing: dict[int, str], links: Sequence[LinkFact] | None
    ) -> None:
        self.site = site
        self.src = site.source
        self.links = links if links is not None else _audited_links(site)
        self.terms = {tid: MissingTerm(tid, state) for tid, state in sorted(missing.items())}
        self.vocabularies: dict[int, MissingVocabulary] = {}
        self.existing_vids = set(site.vocabularies)
        self.machine = {v.vid: v.machine_name for v in site.vocabularies.values()}
        self.vocabulary_names: dict[str, tuple[str, int]] = {}
        self.cached_tids: set[int] = set()  # terms whose page cache_page holds
        self.resolver = AliasResolver(self.src)
        # Term aliases only (a site has thousands, not millions); other paths are
        # resolved in batches when a body link needs it.
        self.aliases: dict[str, str] = (
            self.resolver.preload("taxonomy/term/%") if site.optional_table("url_alias") else {}
        )

    def add(self, tid: int, evidence: Evidence) -> None:
        if tid in self.terms and evidence not in self.terms[tid].evidence:
            self.terms[tid].evidence.append(evidence)

    def term_of_alias(self, alias: str) -> int | None:
        source = self.aliases.get(alias)
        if source is not None:
            return term_id_of(source, exact=True)
        for term in self.terms.values():
            if term.alias == alias:
                return term.tid
        return None

    def run(self) -> Recovery:
        self.term_rows()
        self.watchdog()
        self.hierarchy()
        self.fields()
        self.menu_links()
        self.url_aliases()
        self.breadcrumbs()
        self.body_links()
        self.alias_parents()
        self.search_index()
        self.missing_vocabularies()
        self.cached_pages()
        self.descriptions()
        self.field_order()
        return Recovery(self.terms, self.vocabularies)

    def term_rows(self) -> None:
        """Terms whose row survives (their vocabulary went) keep their own name."""
        for tid, vid, name, weight in self.src.rows(
            "SELECT tid, vid, name, weight FROM {taxonomy_term_data}"
        ):
            if int(tid) in self.terms:
                term = self.terms[int(tid)]
                term.vid = int(vid)
                self.add(
                    term.tid,
                    Evidence(
                        "taxonomy_term_data",
                        f"term row, vid {vid}",
                        "high",
                        name=str(name),
                        weight=int(weight),
                    ),
                )

    def watchdog(self) -> None:
        if not self.site.optional_table("watchdog"):
            return
        for wid, message, variables, link in self.src.rows(
            "SELECT wid, message, variables, link FROM {watchdog} WHERE type = ? ORDER BY wid",
            ("taxonomy",),
        ):
            try:
                values = unserialize(variables, f"watchdog row wid={wid}") or {}
            except SchemaError:
                continue  # a damaged log row is no evidence, not a reason to stop
            if not isinstance(values, dict):
                continue
            name = values.get("%term") or values.get("%name")
            vocab = _VOCAB_LINK.search(str(link or ""))
            if "vocabulary" in str(message) and vocab and name:
                self.vocabulary_names[vocab.group(1)] = (str(name), int(wid))
                continue
            tid = _linked_tid(str(link or ""))
            if tid is not None and name:
                self.add(tid, Evidence("watchdog", f"wid {wid}: {message}", "high", name=str(name)))

    def hierarchy(self) -> None:
        for tid, parent in self.src.rows("SELECT tid, parent FROM {taxonomy_term_hierarchy}"):
            tid, parent = int(tid), int(parent)
            if tid in self.terms:
                self.add(
                    tid,
                    Evidence(
                        "taxonomy_term_hierarchy",
                        f"own row {tid} → {parent}",
                        "high",
                        parent=parent,
                    ),
                )
            if parent in self.terms:
                vocab = self.src.scalar(
                    "SELECT v.machine_name FROM {taxonomy_term_data} t"
                    " JOIN {taxonomy_vocabulary} v ON v.vid = t.vid WHERE t.tid = ?",
                    (tid,),
                )
                self.add(
                    parent,
                    Evidence(
                        "taxonomy_term_hierarchy",
                        f"child {tid} still points here",
                        "high",
                        vocabulary=vocab,
                    ),
                )

    def fields(self) -> None:
        for info in self.site.term_reference_fields:
            column = info.storage.column("tid")
            for table in (info.storage.data_table, info.storage.revision_table):
                if not self.src.has_table(table):
                    continue
                for tid, count in self.src.rows(
                    f"SELECT `{column}`, COUNT(*) FROM {{{table}}} GROUP BY `{column}`"
                ):
                    if int(tid) not in self.terms:
                        continue
                    vocab = (
                        info.allowed_vocabularies[0]
                        if len(info.allowed_vocabularies) == 1
                        else None
                    )
                    self.add(
                        int(tid),
                        Evidence(
                            "field",
                            f"{table}: {count} row(s); {info.field_name} allows "
                            + (",".join(info.allowed_vocabularies) or "any vocabulary"),
                            "high" if vocab else "low",
                            vocabulary=vocab,
                        ),
                    )

    def menu_links(self) -> None:
        if not self.site.optional_table("menu_links"):
            return
        paths = {
            int(mlid): str(path)
            for mlid, path in self.src.rows("SELECT mlid, link_path FROM {menu_links}")
        }
        for mlid, plid, path, title, weight, menu in self.src.rows(
            "SELECT mlid, plid, link_path, link_title, weight, menu_name FROM {menu_links}"
            " WHERE link_path LIKE ?",
            ("taxonomy/term/%",),
        ):
            tid = term_id_of(str(path), exact=True)
            if tid is None or tid not in self.terms:
                continue
            self.add(
                tid,
                Evidence(
                    "menu_links",
                    f"mlid {mlid} in {menu}: title, weight, parent link",
                    "medium",
                    name=str(title),
                    weight=int(weight),
                    parent=term_id_of(paths.get(int(plid)), exact=True),
                ),
            )

    def url_aliases(self) -> None:
        for alias, source in self.aliases.items():
            tid = term_id_of(source, exact=True)
            if tid is not None and tid in self.terms:
                self.add(
                    tid, Evidence("url_alias", f"alias {alias!r} still stored", "high", alias=alias)
                )

    def breadcrumbs(self) -> None:
        if not self.site.optional_table("taxonomy_breadcrumb_term"):
            return
        for tid, path in self.src.rows("SELECT tid, path FROM {taxonomy_breadcrumb_term}"):
            if int(tid) in self.terms:
                self.add(
                    int(tid),
                    Evidence(
                        "taxonomy_breadcrumb_term",
                        f"breadcrumb path {path!r}",
                        "medium",
                        alias=str(path),
                    ),
                )

    def body_links(self) -> None:
        """Link texts next to term paths, and lost aliases with the term they named.

        The links come from the audit's scan (``migrate.audit.links``): one parser and
        one attribution, so ``recover`` and ``links.broken_term_routes`` name the same
        term for the same link. A lost alias is attributed there to the one dead term
        every node linking it references in any revision (others pinned elsewhere ruled
        out); here it becomes that term's alias and, from the link text, its name.
        """
        lost: dict[tuple[int, str], list[tuple[int, str]]] = {}
        for link in self.links:
            label = " ".join(link.text.lstrip("»›>").split())
            tid = link.tid
            if not label or tid is None or tid not in self.terms:
                continue
            if link.kind == "alias_removed":
                lost.setdefault((tid, link.path), []).append((link.nid, label))
            elif link.kind == "normal_path" and term_id_of(link.path, exact=True) == tid:
                self.add(
                    tid,
                    Evidence(
                        "body link",
                        f"node {link.nid}: <a href={link.href!r}>",
                        "medium",
                        name=label,
                    ),
                )
        for (tid, path), uses in sorted(lost.items()):
            label = Counter(lbl for _, lbl in uses).most_common(1)[0][0]
            nodes = ",".join(str(n) for n in sorted({n for n, _ in uses}))
            self.add(
                tid,
                Evidence(
                    "body link",
                    f"lost alias {path!r} in node(s) {nodes}; the only missing term the"
                    " linking node(s) reference that no other lost alias took",
                    "medium",
                    name=label,
                    alias=path,
                ),
            )

    def _node_missing_tids(self) -> dict[int, set[int]]:
        """nid → missing tids any of its revisions references, read through the tid index."""
        found: dict[int, set[int]] = {}
        missing = sorted(self.terms)
        if not missing:
            return found
        marks = ", ".join("?" for _ in missing)
        for info in self.site.term_reference_fields:
            column = info.storage.column("tid")
            for nid, tid in self.src.stream(
                f"SELECT entity_id, `{column}` FROM {{{info.storage.revision_table}}}"
                f" WHERE entity_type = 'node' AND `{column}` IN ({marks})",
                missing,
            ):
                found.setdefault(int(nid), set()).add(int(tid))
        return found

    def alias_parents(self) -> None:
        """An alias 'a/b/c' sits under the term whose alias is 'a/b' (pathauto's pattern)."""
        for term in self.terms.values():
            alias = term.alias
            if not alias or "/" not in alias or any(e.parent is not None for e in term.evidence):
                continue
            prefix = alias.rsplit("/", 1)[0]
            parent = self.term_of_alias(prefix)
            if parent is not None:
                self.add(
                    term.tid,
                    Evidence(
                        "url_alias",
                        f"alias prefix {prefix!r} is term {parent}",
                        "medium",
                        parent=parent,
                    ),
                )

    def search_index(self) -> None:
        """Names rebuilt from the alias slug and the (lower-cased) search index of its nodes."""
        if not self.site.optional_table("search_dataset"):
            return
        node_tids = self._node_missing_tids()
        for term in self.terms.values():
            if term.name("low") or not term.alias:
                continue
            slug = term.alias.rsplit("/", 1)[-1]
            size = len(slug.split("-"))
            nids = [nid for nid, tids in node_tids.items() if term.tid in tids][:20]
            found: Counter[str] = Counter()
            for nid in nids:
                data = self.src.scalar(
                    "SELECT data FROM {search_dataset} WHERE sid = ? AND type = ?", (nid, "node")
                )
                words = str(data or "").split()
                for i in range(len(words) - size + 1):
                    phrase = " ".join(words[i : i + size])
                    if fold(phrase) == slug:
                        found[phrase] += 1
            if found:
                phrase, hits = found.most_common(1)[0]
                self.add(
                    term.tid,
                    Evidence(
                        "search_dataset",
                        f"slug {slug!r} matches {hits} indexed phrase(s); the index is lower-case",
                        "low",
                        name=phrase,
                    ),
                )

    def missing_vocabularies(self) -> None:
        """A vid terms carry without a vocabulary row: named by the field that still allows it."""
        lost = sorted(
            {t.vid for t in self.terms.values() if t.vid is not None} - self.existing_vids
        )
        known = set(self.machine.values())
        names = self.vocabulary_names
        for vid in lost:
            members = [t for t in self.terms.values() if t.vid == vid]
            machine: str | None = None
            evidence: list[Evidence] = []
            for info in self.site.term_reference_fields:
                column = info.storage.column("tid")
                orphan_allowed = [v for v in info.allowed_vocabularies if v not in known]
                used = self.src.scalar(
                    f"SELECT COUNT(*) FROM {{{info.storage.revision_table}}}"
                    f" WHERE `{column}` IN ({','.join('?' for _ in members)})",
                    [t.tid for t in members],
                )
                if len(orphan_allowed) == 1 and used:
                    machine = orphan_allowed[0]
                    label = self._instance_label(info.field_name)
                    evidence.append(
                        Evidence(
                            "field_config",
                            f"{info.field_name} allows {machine!r}, which has no row,"
                            f" and references {used} row(s) of vid {vid}",
                            "high",
                            vocabulary=machine,
                            name=label,
                        )
                    )
            name = None
            if machine and machine in names:
                name, wid = names[machine]
                evidence.append(
                    Evidence("watchdog", f"wid {wid}: vocabulary created", "high", name=name)
                )
            elif evidence:
                name = next((e.name for e in evidence if e.name), None)
            self.vocabularies[vid] = MissingVocabulary(vid, machine, name, evidence)
            for term in members:
                if machine:
                    self.add(
                        term.tid,
                        Evidence(
                            "field_config", f"vid {vid} is {machine!r}", "high", vocabulary=machine
                        ),
                    )

    def cached_pages(self) -> None:
        """A term page Drupal cached (``cache_page``, keyed by URL) before the term went:
        its title is the name, its description block the rendered description, and the
        last crumb of its breadcrumb (the module drops the page's own term) the parent."""
        if not self.site.optional_table("cache_page"):
            return
        for cid, data in self.src.rows("SELECT cid, data FROM {cache_page} ORDER BY cid"):
            path = _page_path(str(cid))
            tid = term_id_of(path, exact=True) if path.startswith("taxonomy/") else None
            if tid is None:
                tid = self.term_of_alias(path)
            if tid is None or tid not in self.terms:
                continue
            page = _cached_html(data, str(cid))
            if page is None:
                continue
            self.cached_tids.add(tid)
            where = f"cache_page {cid}"
            title, description, crumbs = page
            if title:
                self.add(tid, Evidence("cache_page", f"{where}: page title", "high", name=title))
            if description:
                self.add(
                    tid,
                    Evidence(
                        "cache_page",
                        f"{where}: rendered description (the text as shown, not as stored)",
                        "medium",
                        description=description,
                    ),
                )
            parent = self._parent_of_crumb(crumbs)
            if parent is not None:
                self.add(
                    tid,
                    Evidence(
                        "cache_page", f"{where}: last breadcrumb link", "medium", parent=parent
                    ),
                )

    def _parent_of_crumb(self, crumbs: list[str]) -> int | None:
        """The term a breadcrumb link points to (system path or alias), if any."""
        if not crumbs:
            return None
        path = crumbs[-1]
        tid = term_id_of(path, exact=True)
        if tid is None:
            source = self.aliases.get(path)
            tid = term_id_of(source, exact=True) if source else self.term_of_alias(path)
        return tid

    def descriptions(self) -> None:
        """A description whose exact text Drupal filtered and cached (``cache_filter``).

        check_markup() caches under ``format::sha256(text)``. When the live terms of the
        vocabulary all follow one description pattern around their name, the missing
        term's text by that pattern is a candidate; a cached hash of it proves the text
        and its format (high). An unconfirmed candidate is kept as low evidence only.
        """
        if not self.site.optional_table("cache_filter"):
            return
        hashes: dict[str, str] = {}
        for (cid,) in self.src.rows("SELECT cid FROM {cache_filter} ORDER BY cid"):
            fmt, _, digest = str(cid).rpartition(":")
            hashes[digest] = fmt.rstrip(":").split(":", 1)[0]
        patterns = self._description_patterns()
        for term in self.terms.values():
            name = term.name()
            vid = term.vid if term.vid is not None else self._vid(term.vocabulary)
            if name is None or vid is None or vid not in patterns:
                continue
            prefix, suffix, fmt, count = patterns[vid]
            text = prefix + name + suffix
            digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
            if hashes.get(digest) == fmt:
                self.add(
                    term.tid,
                    Evidence(
                        "cache_filter",
                        f"{fmt}::{digest[:12]}… is the hash of the description the other"
                        f" {count} terms' pattern gives",
                        "high",
                        description=text,
                        format=fmt,
                    ),
                )
            else:
                self.add(
                    term.tid,
                    Evidence(
                        "description pattern",
                        f"{count} live terms of the vocabulary are described as"
                        f" {prefix!r} + name + {suffix!r}; no cached copy confirms it for"
                        f" this one (cache_filter holds {len(hashes)} text(s), none this one;"
                        " cache_page holds "
                        + ("a page" if term.tid in self.cached_tids else "no page")
                        + " of this term)",
                        "low",
                        description=text,
                        format=fmt,
                    ),
                )

    def _vid(self, machine: str | None) -> int | None:
        for vid, name in self.machine.items():
            if name == machine:
                return vid
        return None

    def _description_patterns(self) -> dict[int, tuple[str, str, str, int]]:
        """vid → (prefix, suffix, format, terms) when every described live term of a
        vocabulary (at least two) reads prefix + its name + suffix in one format."""
        seen: dict[int, list[tuple[str, str, str]]] = {}
        for vid, name, description, fmt in self.src.rows(
            "SELECT t.vid, t.name, t.description, t.format FROM {taxonomy_term_data} t"
            " INNER JOIN {taxonomy_vocabulary} v ON v.vid = t.vid ORDER BY t.tid"
        ):
            text, name = str(description or ""), str(name)
            if text and fmt and name in text:
                prefix, _, suffix = text.partition(name)
                seen.setdefault(int(vid), []).append((prefix, suffix, str(fmt)))
        return {
            vid: (*found[0], len(found))
            for vid, found in seen.items()
            if len(found) >= 2 and len(set(found)) == 1
        }

    def field_order(self) -> None:
        """Weights bounded by the order an options widget stored two sibling terms in.

        ``options_select`` and ``options_buttons`` list a vocabulary as
        ``taxonomy_get_tree()`` does (siblings by weight, then name) and save the
        chosen terms in that order, so deltas 0, 1 of one revision say which of two
        siblings sorted first. A missing term without any other weight evidence gets
        the weight closest to the default 0 that keeps every such order (low
        confidence: the order is evidence, the number only a bound).
        """
        live = {
            int(tid): (int(vid), str(name), int(weight))
            for tid, vid, name, weight in self.src.rows(
                "SELECT t.tid, t.vid, t.name, t.weight FROM {taxonomy_term_data} t"
                " INNER JOIN {taxonomy_vocabulary} v ON v.vid = t.vid"
            )
        }
        parents: dict[int, set[int]] = {}
        for tid, parent in self.src.rows("SELECT tid, parent FROM {taxonomy_term_hierarchy}"):
            parents.setdefault(int(tid), set()).add(int(parent))
        vids = {v.machine_name: v.vid for v in self.site.vocabularies.values()}
        vids.update({v.machine_name: v.vid for v in self.vocabularies.values() if v.machine_name})
        facts: dict[int, tuple[int, str, int | None]] = {
            t: (v, n, w) for t, (v, n, w) in live.items()
        }
        for term in self.terms.values():
            vid = term.vid if term.vid is not None else vids.get(term.vocabulary or "")
            name = term.name("low")
            if vid is None or name is None:
                continue
            weighed = [e for e in term.evidence if e.weight is not None]
            facts[term.tid] = (vid, name, term.weight if weighed else None)
            parents.setdefault(term.tid, set(term.parents))
        order = self._stored_orders(facts)
        fixed = {t: w for t, (_v, _n, w) in facts.items() if w is not None}
        weights = {t: fixed.get(t, 0) for t in facts}
        pairs = [
            (a, b, where)
            for (a, b), where in order.items()
            # Siblings with one parent each: a multi-parent term's place in the list
            # depends on which of its parents the tree meets first.
            if facts[a][0] == facts[b][0]
            and len(parents.get(a, ())) == 1 == len(parents.get(b, ()))
            and parents[a] == parents[b]
        ]
        for _ in range(len(pairs) + 1):
            moved = False
            for a, b, _where in pairs:
                key_a = (weights[a], collation_key(facts[a][1]))
                key_b = (weights[b], collation_key(facts[b][1]))
                if key_a < key_b:
                    continue
                step = 0 if collation_key(facts[a][1]) < collation_key(facts[b][1]) else 1
                if b not in fixed:
                    weights[b], moved = weights[a] + step, True
                elif a not in fixed:
                    weights[a], moved = weights[b] - step, True
            if not moved:
                break
        for a, b, where in pairs:
            for tid in (a, b):
                if tid in self.terms and tid not in fixed and weights[tid] != 0:
                    self.add(
                        tid,
                        Evidence(
                            "field order",
                            f"{where} stores term {a} before term {b}; an options widget"
                            " saves them in tree order (weight, then name), so this weight"
                            f" is {'at least' if tid == b else 'at most'} {weights[tid]}",
                            "low",
                            weight=weights[tid],
                        ),
                    )

    def _stored_orders(
        self, facts: dict[int, tuple[int, str, int | None]]
    ) -> dict[tuple[int, int], str]:
        """(a, b) → where a revision saved term a before term b, through an options widget,
        for revisions that reference a missing term."""
        found: dict[tuple[int, int], str] = {}
        missing = sorted(t for t in self.terms if t in facts)
        if not missing:
            return found
        marks = ", ".join("?" for _ in missing)
        for info in self.site.term_reference_fields:
            bundles = self._options_bundles(info.field_name)
            table = info.storage.revision_table
            if not bundles or not self.src.has_table(table):
                continue
            column = info.storage.column("tid")
            lists: dict[tuple[str, int, int, str], list[int]] = {}
            for etype, bundle, eid, rev, lang, tid in self.src.stream(
                f"SELECT entity_type, bundle, entity_id, revision_id, language, `{column}`"
                f" FROM {{{table}}} WHERE entity_id IN (SELECT entity_id FROM {{{table}}}"
                f" WHERE `{column}` IN ({marks})) AND deleted = 0"
                " ORDER BY entity_type, entity_id, revision_id, language, delta",
                missing,
            ):
                if (str(etype), str(bundle)) in bundles:
                    lists.setdefault((str(etype), int(eid), int(rev), str(lang)), []).append(
                        int(tid)
                    )
            for (etype, eid, rev, _lang), tids in lists.items():
                for i, a in enumerate(tids):
                    for b in tids[i + 1 :]:
                        if a in facts and b in facts and (a in self.terms or b in self.terms):
                            found.setdefault((a, b), f"{table} ({etype} {eid}, revision {rev})")
        return found

    def _options_bundles(self, field_name: str) -> set[tuple[str, str]]:
        """(entity type, bundle) instances of a field edited with an options widget."""
        found = set()
        for etype, bundle, data in self.src.rows(
            "SELECT entity_type, bundle, data FROM {field_config_instance}"
            " WHERE field_name = ? AND deleted = 0",
            (field_name,),
        ):
            config = unserialize(data, f"field_config_instance {field_name}") or {}
            widget = config.get("widget") if isinstance(config, dict) else None
            if isinstance(widget, dict) and widget.get("type") in _OPTIONS_WIDGETS:
                found.add((str(etype), str(bundle)))
        return found

    def _instance_label(self, field_name: str) -> str | None:
        for (data,) in self.src.rows(
            "SELECT data FROM {field_config_instance} WHERE field_name = ? AND deleted = 0",
            (field_name,),
        ):
            config = unserialize(data, f"field_config_instance {field_name}") or {}
            if isinstance(config, dict) and config.get("label"):
                return str(config["label"])
        return None


def recover_terms(
    site: Drupal7, missing: dict[int, str], links: Sequence[LinkFact] | None = None
) -> Recovery:
    """Every piece of evidence for each missing tid (``tid → state``) and lost vocabulary.

    ``links``: the body links to dead terms an audit of this site found (its
    ``BodyLink``s or ``BodyLinkRoute`` entities); without them the audit's scan runs here.
    """
    return _Recoverer(site, missing, links).run()


@dataclass
class RecoverReport:
    """The recovery, and (given a reference site) which names it got exactly right."""

    recovery: Recovery
    reference: dict[int, str] = field(default_factory=dict)

    def outcome(self, term: MissingTerm) -> str:
        """exact / differs / no evidence (or 'unchecked' without a reference)."""
        name = term.name("low")
        if name is None:
            return "no evidence"
        if not self.reference:
            return "unchecked"
        return "exact" if self.reference.get(term.tid) == name else "differs"

    def to_dict(self) -> dict[str, Any]:
        data = self.recovery.to_dict()
        for entry, term in zip(data["terms"], self.recovery.terms.values(), strict=True):
            entry["outcome"] = self.outcome(term)
            if self.reference:
                entry["reference_name"] = self.reference.get(term.tid)
        return data
