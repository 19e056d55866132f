"""Testing a migration in a site's own test suite (the ``pytest11`` plugin and its helpers).

``plugin`` gives the pytest fixtures (``drupal_site``, ``drupal_audit``,
``drupal_repair_plan``, ``drupal_export``), ``site`` loads a fixture dump into a
throwaway MariaDB database or the embedded dump reader, ``assertions`` the
assertion helpers a site's tests import from here.
"""

from migrate.testing.assertions import assert_exported, assert_no_findings, assert_redirect
from migrate.testing.site import DrupalSite, ExportBundle

__all__ = [
    "DrupalSite",
    "ExportBundle",
    "assert_exported",
    "assert_no_findings",
    "assert_redirect",
]
