"""The pytest plugin (entry point ``pytest11``): a site's fixture dump as pytest fixtures.

* ``drupal_site(dump_path=None)``: a factory; the dump (default: ``drupal_dump``) loaded
  into a throwaway MariaDB database when ``--drupal-mysql URL`` or
  ``DRUPAL_TEST_MYSQL_URL`` names a server, else opened with the embedded dump reader.
  Each dump is loaded once per test run and dropped at its end.
* ``drupal_audit``: the ``AuditReport`` of the default site.
* ``drupal_repair_plan(mapping=None, strategies=(), site=None)``: the repair ``Plan``.
* ``drupal_export(to="jsonl", site=None, **options)``: an ``ExportBundle``.
* ``drupal_dump``: the default dump: ``--drupal-dump PATH`` or the ``drupal_dump`` ini
  option; a site's conftest may override this fixture instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from migrate.audit import AuditReport
    from migrate.repair.operations import Plan
    from migrate.testing.site import DrupalSite, ExportBundle

ENV_URL = "DRUPAL_TEST_MYSQL_URL"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("drupal-migrate", "Drupal migration tests (drupal-migrate)")
    group.addoption(
        "--drupal-mysql",
        metavar="URL",
        default=None,
        help=f"load fixture dumps into throwaway databases on this server (or ${ENV_URL});"
        " default: the embedded dump reader",
    )
    group.addoption("--drupal-dump", metavar="PATH", default=None, help="the default fixture dump")
    parser.addini("drupal_dump", "the default fixture dump, relative to the ini file", default="")


class _Sites:
    """Every site a test run opened, one per dump, closed (dropped) at the end."""

    def __init__(self, workdir: Path, server_url: str | None) -> None:
        self.workdir = workdir
        self.server_url = server_url
        self.opened: dict[Path, DrupalSite] = {}

    def get(self, dump: Path) -> DrupalSite:
        from migrate.testing.site import DrupalSite, server_from_url

        key = Path(dump).resolve()
        if key not in self.opened:
            server = server_from_url(self.server_url) if self.server_url else None
            folder = self.workdir / f"site-{len(self.opened)}"
            self.opened[key] = DrupalSite(key, folder, server)
        return self.opened[key]

    def close(self) -> None:
        for site in self.opened.values():
            site.close()


@pytest.fixture(scope="session")
def _drupal_sites(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[_Sites]:
    url = request.config.getoption("--drupal-mysql") or os.environ.get(ENV_URL) or None
    sites = _Sites(tmp_path_factory.mktemp("drupal-sites"), url)
    yield sites
    sites.close()


@pytest.fixture
def drupal_dump(request: pytest.FixtureRequest) -> Path:
    """The fixture dump tests use when they name none."""
    given = request.config.getoption("--drupal-dump")
    if given:
        return Path(given)
    ini = request.config.getini("drupal_dump")
    if ini:
        return Path(str(request.config.inipath or ".")).parent / str(ini)
    pytest.fail(
        "no fixture dump: pass --drupal-dump PATH, set drupal_dump in the pytest ini file,"
        " or define a drupal_dump fixture"
    )


@pytest.fixture
def drupal_site(_drupal_sites: _Sites, drupal_dump: Path) -> Callable[..., DrupalSite]:
    """``drupal_site(dump_path=None)`` → the loaded site (the default dump when None)."""

    def open_site(dump_path: Path | str | None = None) -> DrupalSite:
        return _drupal_sites.get(Path(dump_path) if dump_path else drupal_dump)

    return open_site


@pytest.fixture
def drupal_audit(drupal_site: Callable[..., DrupalSite]) -> Iterator[AuditReport]:
    """The full audit of the default site."""
    report = drupal_site().audit()
    yield report
    report.close()


@pytest.fixture
def drupal_repair_plan(drupal_site: Callable[..., DrupalSite]) -> Callable[..., Plan]:
    """``drupal_repair_plan(mapping=None, strategies=(), site=None)`` → the repair plan."""

    def plan(
        mapping: Path | str | None = None,
        strategies: tuple[str, ...] | list[str] = (),
        site: DrupalSite | None = None,
    ) -> Plan:
        target = site or drupal_site()
        return target.repair_plan(Path(mapping) if mapping else None, tuple(strategies))

    return plan


@pytest.fixture
def drupal_export(drupal_site: Callable[..., DrupalSite]) -> Callable[..., ExportBundle]:
    """``drupal_export(to="jsonl", site=None, **options)`` → the bundle, read back."""

    def export(to: str = "jsonl", site: DrupalSite | None = None, **options: Any) -> ExportBundle:
        return (site or drupal_site()).export(to, **options)

    return export
