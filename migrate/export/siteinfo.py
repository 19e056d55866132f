"""What a target shows about the site as a whole: its name, slogan, language and time zone.

Read once per export from Drupal's ``variable`` table, so a Hugo site is titled
and dated like the old one and a WXR channel names it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from migrate.errors import MigrateError

if TYPE_CHECKING:
    from migrate.schema import Drupal7


_COUNTRY_LANGUAGE = {"VN": "vi", "FR": "fr", "DE": "de", "JP": "ja", "KR": "ko", "TH": "th"}


@dataclass(frozen=True, slots=True)
class SiteInfo:
    name: str = ""
    slogan: str = ""
    language: str = "en"
    timezone: str = "UTC"
    hierarchical: frozenset[str] = frozenset()
    """Machine names of the vocabularies whose terms may have parents."""
    vocabularies: frozenset[str] = frozenset()
    """Machine names of every vocabulary (to tell them from a mapping's target names)."""


def _text(site: Drupal7, name: str) -> str:
    try:
        value = site.variable(name)
    except MigrateError:  # a corrupt variable is shown as absent, never fatal here
        return ""
    return value.strip() if isinstance(value, str) else ""


def read_site_info(site: Drupal7) -> SiteInfo:
    """The site's variables, with Drupal's own defaults when one is missing or unusable."""
    try:
        language = site.variable("language_default")
    except MigrateError:
        language = None
    code = str(language.get("language") or "") if isinstance(language, dict) else ""
    # Without the locale module Drupal has no language_default; the site's country then
    # names the language its pages are in, for the countries this toolkit was built for.
    code = code or _COUNTRY_LANGUAGE.get(_text(site, "site_default_country").upper(), "")
    zone = _text(site, "date_default_timezone") or "UTC"
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = "UTC"
    return SiteInfo(
        name=_text(site, "site_name"),
        slogan=_text(site, "site_slogan"),
        language=code or "en",
        timezone=zone,
        hierarchical=frozenset(
            v.machine_name for v in site.vocabularies.values() if v.hierarchy > 0
        ),
        vocabularies=frozenset(v.machine_name for v in site.vocabularies.values()),
    )
