"""The spellings of a link into the old site that ``migrate.links`` understands.

One parser serves the audit (which takes ``.path``) and the exporter's
``MapLinkResolver`` (which also keeps the query and fragment, and strips a base
path). Each test below is one feature: read the names for the list.
"""

from __future__ import annotations

import pytest

from migrate.links import (
    InternalLink,
    is_system_path,
    node_id_of,
    normalise_host,
    parse_internal_href,
    term_id_of,
)

SITE = frozenset({"www.example.edu.vn"})
HOST = ["www.example.edu.vn"]


def path_of(href: str | None, hosts=None, base_path: str = "") -> str | None:
    link = parse_internal_href(href, hosts, base_path)
    return None if link is None else link.path


def parts_of(href: str, hosts=SITE, base_path: str = "") -> tuple[str, str, str] | None:
    link = parse_internal_href(href, hosts, base_path)
    return None if link is None else (link.path, link.query, link.fragment)


# Moved from tests/audit/test_audit_links.py (the audit's view: the path only).
@pytest.mark.parametrize(
    ("href", "hosts", "path"),
    [
        ("/taxonomy/term/5", None, "taxonomy/term/5"),
        ("taxonomy/term/5/feed", None, "taxonomy/term/5/feed"),
        ("/index.php?q=taxonomy/term/9", None, "taxonomy/term/9"),
        ("/?q=node/13", None, "node/13"),
        ("http://www.example.edu.vn/index.php?q=node/8", HOST, "node/8"),
        ("https://example.edu.vn/tin-tuc/tin-dang-uy/", HOST, "tin-tuc/tin-dang-uy"),
        ("http://elsewhere.org/taxonomy/term/5", HOST, None),
        ("http://elsewhere.org/taxonomy/term/5", None, "taxonomy/term/5"),
        ("/tin-t%E1%BB%A9c", None, "tin-tức"),
        ("mailto:webmaster@example.edu.vn", None, None),
        ("#top", None, None),
        ("", None, None),
        ("/", None, ""),
    ],
)
def test_parse_internal_path(href, hosts, path):
    assert path_of(href, hosts) == path


OLD_SITE_HREFS = [
    ("/node/12", "node/12", "", ""),
    ("node/12", "node/12", "", ""),
    ("/index.php?q=node/12", "node/12", "", ""),
    ("?q=node/12&page=2", "node/12", "page=2", ""),
    ("http://www.example.edu.vn/index.php?q=node/12", "node/12", "", ""),
    ("https://WWW.EXAMPLE.EDU.VN/node/12#binh-luan", "node/12", "", "binh-luan"),
    ("//www.example.edu.vn/taxonomy/term/5/", "taxonomy/term/5", "", ""),
    ("/tin-t%E1%BB%A9c/abc", "tin-tức/abc", "", ""),
    ("/sites/default/files/tai-lieu/a b.pdf", "sites/default/files/tai-lieu/a b.pdf", "", ""),
    ("http://www.example.edu.vn/", "", "", ""),
]
"""Spellings of old-site links and the (path, query, fragment) they reduce to; the
export's resolver (tests/export/test_clean.py) must agree with the parser on each."""


@pytest.mark.parametrize(("href", "path", "query", "fragment"), OLD_SITE_HREFS)
def test_old_site_hrefs_reduce_to_drupal_paths(href, path, query, fragment):
    assert parts_of(href) == (path, query, fragment)


def test_root_relative_and_bare_paths_are_the_same_page():
    assert path_of("/tin-tuc/abc/") == path_of("tin-tuc/abc") == "tin-tuc/abc"


def test_surrounding_whitespace_is_ignored():
    assert path_of("  /node/5\n") == "node/5"


def test_clean_urls_off_q_wins_over_the_front_script_and_other_parameters_stay():
    assert parts_of("/index.php?q=node/5&page=2&sort=asc#c3") == ("node/5", "page=2&sort=asc", "c3")
    assert parts_of("/?page=1&q=taxonomy/term/5/") == ("taxonomy/term/5", "page=1", "")
    assert path_of("?q=tin-t%E1%BB%A9c") == "tin-tức"


def test_q_on_a_page_other_than_the_front_script_is_just_a_parameter():
    assert parts_of("/node/5?q=node/6") == ("node/5", "q=node/6", "")


def test_index_php_path_info_and_the_bare_front_script():
    assert path_of("/index.php/node/5") == "node/5"
    assert path_of("http://www.example.edu.vn/index.php/taxonomy/term/5/feed", HOST) == (
        "taxonomy/term/5/feed"
    )
    assert path_of("/index.php") == path_of("/index.php/") == path_of("index.php") == ""


def test_the_front_page_is_the_empty_path():
    assert path_of("/") == path_of("/?page=2") == path_of("http://example.edu.vn") == ""
    assert parse_internal_href("/?page=2") == InternalLink("", "page=2")


def test_a_query_or_fragment_alone_is_the_current_page_not_a_path():
    assert path_of("?page=2") is None
    assert path_of("?") is None
    assert path_of("#top") is None


def test_host_spellings_compare_equal_case_www_port_trailing_dot():
    for href in (
        "http://example.edu.vn/node/1",
        "http://WWW.Example.edu.vn:8080/node/1",
        "https://www.example.edu.vn./node/1",
        "//example.edu.vn/node/1",
    ):
        assert path_of(href, HOST) == "node/1", href
    assert path_of("http://www.example.edu.vn/node/1", ["example.edu.vn:80"]) == "node/1"
    assert normalise_host("WWW.Example.edu.vn:443") == "example.edu.vn"


def test_hosts_none_accepts_any_host_empty_accepts_relative_hrefs_only():
    assert path_of("http://elsewhere.org/node/1", None) == "node/1"
    assert path_of("http://elsewhere.org/node/1", frozenset()) is None
    assert path_of("/node/1", frozenset()) == "node/1"
    assert path_of("http://sub.example.edu.vn/node/1", HOST) is None


def test_hosts_may_be_any_collection():
    for hosts in (HOST, SITE, ("www.example.edu.vn",), {"example.edu.vn"}):
        assert path_of("https://example.edu.vn/node/1", hosts) == "node/1"


@pytest.mark.parametrize(
    "href",
    [
        "mailto:webmaster@example.edu.vn",
        "tel:+84123",
        "javascript:void(0)",
        "JavaScript:alert(1)",
        "data:image/png;base64,AAAA",
        "ftp://www.example.edu.vn/node/1",
        "skype:someone",
        "news:comp.lang",
    ],
)
def test_other_schemes_are_not_pages(href):
    assert parse_internal_href(href) is None


def test_base_path_is_stripped_from_relative_and_absolute_hrefs():
    assert path_of("/portal/node/5", None, "portal") == "node/5"
    assert path_of("http://www.example.edu.vn/portal/node/5", HOST, "portal") == "node/5"
    assert path_of("/portal/index.php?q=node/5", None, "portal") == "node/5"
    assert path_of("/portal/", None, "portal") == ""
    assert path_of("/portals/node/5", None, "portal") == "portals/node/5"


def test_percent_escapes_are_decoded_but_unicode_is_left_as_typed():
    assert path_of("/a%20b/c%2Fd") == "a b/c/d"
    decomposed = "tin-tu\u031bc"  # NFD: the audit must see what Drupal looks up
    assert path_of("/" + decomposed) == decomposed


def test_the_fast_path_for_plain_paths_agrees_with_the_full_parse():
    for href in ("/node/5", "/a b", "/a:b", "/index.php/node/5", "/a\tb", "/a\\b"):
        fast = parse_internal_href(href)
        full = parse_internal_href("http://x.vn" + href)
        assert fast is not None and full is not None, href
        assert fast.path == full.path, href


def test_unparseable_hrefs_are_not_internal():
    assert parse_internal_href("http://[::1/node/5") is None
    assert parse_internal_href(None) is None


# Moved from tests/audit/test_audit_links.py.
def test_term_and_node_ids():
    assert term_id_of("taxonomy/term/12/edit") == 12
    assert term_id_of("taxonomy/term/abc") is None
    assert node_id_of("node/7") == 7
    assert is_system_path("sites/default/files/a.pdf")
    assert not is_system_path("tin-tuc/tin-dao-tao")


def test_exact_ids_are_of_the_page_itself_not_its_sub_paths():
    assert term_id_of("taxonomy/term/12", exact=True) == 12
    assert term_id_of("taxonomy/term/12/feed", exact=True) is None
    assert node_id_of("node/7/edit") == 7
    assert node_id_of("node/7/edit", exact=True) is None
    assert node_id_of("node/7x") is None
    assert node_id_of(None) is None
