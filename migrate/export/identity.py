"""Which Drupal site an export folder belongs to, so two sites are never mixed in one bundle.

A site is known by what its installation wrote once and nothing changes afterwards:
the ``drupal_private_key`` variable (random, per installation), ``install_time`` and
the creation time of user 1. The folder's state keeps a sha256 of them (never the
key itself), and the site's name and install date to say which site it was. A
repaired copy of a site, a dump of it or the live database is the same site; a
different installation is not, whatever its URL or dump file is called.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from migrate.errors import MigrateError, StateError

if TYPE_CHECKING:
    from migrate.export.state import StateStore
    from migrate.schema import Drupal7

IDENTITY_KEY = "source_identity"
DESCRIPTION_KEY = "source_description"
ALLOW_OPTION = "--allow-other-site"


@dataclass(frozen=True, slots=True)
class SiteIdentity:
    digest: str
    """sha256 of the installation's fixed facts (module docstring)."""
    description: str
    """The site as a person recognises it: name and install date."""


def _variable(site: Drupal7, name: str) -> Any:
    try:
        return site.variable(name)
    except MigrateError:  # a corrupt variable is one fact less, never fatal here
        return None


def site_identity(site: Drupal7) -> SiteIdentity:
    """The identity of the site ``site`` reads (see the module docstring)."""
    key = _variable(site, "drupal_private_key")
    installed = _variable(site, "install_time")
    try:
        first_user = site.source.scalar("SELECT created FROM {users} WHERE uid = 1")
    except MigrateError:
        first_user = None
    facts = [str(key or ""), str(installed or ""), str(first_user or "")]
    digest = hashlib.sha256(json.dumps(facts).encode("utf-8")).hexdigest()
    name = _variable(site, "site_name")
    when = installed or first_user
    shown = repr(name) if isinstance(name, str) and name else "a site with no name"
    if isinstance(when, int | str) and str(when).isdigit():
        day = datetime.fromtimestamp(int(when), UTC).date().isoformat()
        shown += f", installed {day}"
    return SiteIdentity(digest, shown)


def claim(state: StateStore, identity: SiteIdentity, *, allow_other: bool) -> None:
    """Record the folder's site on first use; refuse another site unless told to mix them."""
    stored = state.meta(IDENTITY_KEY)
    if stored is None or stored == identity.digest:
        state.set_meta(IDENTITY_KEY, identity.digest)
        state.set_meta(DESCRIPTION_KEY, identity.description)
        return
    if not allow_other:
        before = state.meta(DESCRIPTION_KEY) or "another site"
        raise StateError(
            f"{state.out_dir} holds an export of {before}, not of this source"
            f" ({identity.description}); use another --out, or {ALLOW_OPTION} to add to it"
        )
