"""Audits of the real fixtures, shared by the audit tests (imported, not a conftest: the
root conftest must stay importable as ``conftest`` for ``url_of``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from migrate import api
from migrate.audit import AuditReport
from migrate.config import ConnectionSpec


@pytest.fixture(scope="session")
def broken_report(broken_db: ConnectionSpec) -> Iterator[AuditReport]:
    report = api.audit(broken_db)
    yield report
    report.close()


@pytest.fixture(scope="session")
def clean_report(clean_db: ConnectionSpec) -> Iterator[AuditReport]:
    report = api.audit(clean_db)
    yield report
    report.close()
