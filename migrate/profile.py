"""The site profile, ``drupal-migrate.toml``: named sites an admin would otherwise retype.

Like drush aliases, one file describes one or more sites (``[sites.NAME]``):
where the data is, the old and new URLs, the files folder, the mapping files,
the export targets and the output folder. Every command picks one with
``--site NAME`` (default: the first) and the command line wins over the file.

A password written in the profile (``password =`` or inside ``db``) is refused
unless only the owner can read the file (mode 600), and is never printed.
Relative paths are relative to the profile's folder, so the file can move with
the project.
"""

from __future__ import annotations

import os
import stat
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from migrate import config
from migrate.errors import BadInput
from migrate.identifiers import Prefix
from migrate.source import DumpSpec, SourceSpec

PROFILE_NAME = "drupal-migrate.toml"
SOURCE_KEYS = ("db", "settings", "defaults_file", "dump")
REDIRECT_FORMATS = ("nginx", "apache", "csv")
_KEYS = {
    *SOURCE_KEYS,
    "prefix",
    "password",
    "password_env",
    "old_urls",
    "site_url",
    "files_dir",
    "timezone",
    "mapping",
    "repair_mapping",
    "strategy",
    "targets",
    "redirects",
    "out",
}


@dataclass(frozen=True)
class SiteProfile:
    """One named site of a profile, paths already made absolute."""

    name: str
    profile: Path
    db: str | None = None
    settings: Path | None = None
    defaults_file: Path | None = None
    dump: Path | None = None
    prefix: str | None = None
    password: str | None = None
    password_env: str | None = None
    old_urls: tuple[str, ...] = ()
    site_url: str | None = None
    files_dir: Path | None = None
    timezone: str | None = None
    mapping: Path | None = None
    repair_mapping: Path | None = None
    strategy: tuple[str, ...] = ()
    targets: tuple[str, ...] = ("jsonl",)
    redirects: str = "nginx"
    out: Path = Path("drupal-migrate-output")

    def __repr__(self) -> str:  # the password must not reach a log through repr()
        return f"SiteProfile(name={self.name!r}, profile={str(self.profile)!r})"

    @property
    def has_source(self) -> bool:
        return any(getattr(self, key) is not None for key in SOURCE_KEYS)

    @property
    def old_url(self) -> str | None:
        return self.old_urls[0] if self.old_urls else None

    def source_spec(self) -> SourceSpec:
        """Where this site's data is; the password comes from the profile or the environment."""
        if self.dump is not None:
            return DumpSpec(self.dump, Prefix(self.prefix or ""))
        if not self.has_source:
            raise BadInput(
                f"site {self.name!r} in {self.profile} names no source:"
                " add db, settings, defaults_file or dump"
            )
        spec = config.resolve(self.db, self.settings, self.defaults_file, self.prefix)
        secret = self.password
        if self.password_env:
            secret = os.environ.get(self.password_env)
            if secret is None:
                raise BadInput(
                    f"site {self.name!r}: the environment variable {self.password_env} is not set"
                )
        return replace(spec, password=secret) if secret is not None else spec

    def export_dir(self, target: str) -> Path:
        """Where ``run`` (and ``export --site``) put one target's export."""
        return self.out / f"export-{target}"


@dataclass(frozen=True)
class Profile:
    path: Path
    sites: tuple[SiteProfile, ...]

    def site(self, name: str | None = None) -> SiteProfile:
        """The named site, or the first one."""
        if name is None:
            return self.sites[0]
        for site in self.sites:
            if site.name == name:
                return site
        names = ", ".join(s.name for s in self.sites)
        raise BadInput(f"no site {name!r} in {self.path} (sites: {names})")


def find_profile(path: Path | None, cwd: Path | None = None) -> Path | None:
    """``--config FILE`` if given (it must exist), else ``./drupal-migrate.toml`` if there."""
    if path is not None:
        if not path.is_file():
            raise BadInput(f"{path}: no such profile")
        return path
    candidate = (cwd or Path.cwd()) / PROFILE_NAME
    return candidate if candidate.is_file() else None


def load_profile(path: Path) -> Profile:
    """Read and validate a profile; every problem is one line naming the file and key."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise BadInput(f"{path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise BadInput(f"{path}: not a valid TOML file: {exc}") from None
    extra = set(data) - {"sites"}
    if extra:
        raise BadInput(f"{path}: unknown top-level key(s) {', '.join(sorted(extra))}")
    sites = data.get("sites")
    if not isinstance(sites, dict) or not sites:
        raise BadInput(f"{path}: no [sites.NAME] table")
    base = path.resolve().parent
    loaded = tuple(_site(path, base, name, table) for name, table in sites.items())
    if any(_has_password(site) for site in loaded):
        _require_private(path)
    return Profile(path, loaded)


def _has_password(site: SiteProfile) -> bool:
    return site.password is not None or bool(site.db and urlsplit(site.db).password)


def _require_private(path: Path) -> None:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise BadInput(
            f"{path} holds a database password but other users may read it"
            f" (mode {stat.S_IMODE(mode):o}): run chmod 600 {path}, or move the password"
            " to password_env or a defaults_file"
        )


def _site(path: Path, base: Path, name: str, table: Any) -> SiteProfile:
    where = f"{path}: sites.{name}"
    if not isinstance(table, dict):
        raise BadInput(f"{where} must be a table ([sites.{name}])")
    unknown = set(table) - _KEYS
    if unknown:
        raise BadInput(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    given = [k for k in SOURCE_KEYS if k in table]
    if len(given) > 1:
        raise BadInput(f"{where}: give one of {', '.join(SOURCE_KEYS)}, not {' and '.join(given)}")

    def text(key: str) -> str | None:
        value = table.get(key)
        if value is not None and not isinstance(value, str):
            raise BadInput(f"{where}.{key} must be a string")
        return value

    def texts(key: str) -> tuple[str, ...] | None:
        value = table.get(key)
        if value is None:
            return None
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise BadInput(f"{where}.{key} must be a string or a list of strings")
        return tuple(value)

    def file(key: str) -> Path | None:
        value = text(key)
        return None if value is None else base / Path(value).expanduser()

    redirects = text("redirects") or "nginx"
    if redirects not in REDIRECT_FORMATS:
        raise BadInput(f"{where}.redirects must be one of {', '.join(REDIRECT_FORMATS)}")
    targets = texts("targets") or ("jsonl",)
    return SiteProfile(
        name=name,
        profile=path,
        db=text("db"),
        settings=file("settings"),
        defaults_file=file("defaults_file"),
        dump=file("dump"),
        prefix=text("prefix"),
        password=text("password"),
        password_env=text("password_env"),
        old_urls=texts("old_urls") or (),
        site_url=text("site_url"),
        files_dir=file("files_dir"),
        timezone=text("timezone"),
        mapping=file("mapping"),
        repair_mapping=file("repair_mapping"),
        strategy=texts("strategy") or (),
        targets=targets,
        redirects=redirects,
        out=file("out") or base / "drupal-migrate-output" / name,
    )


@dataclass(frozen=True)
class Discovery:
    """What ``init`` found on a site, to write a profile an admin only has to review."""

    name: str
    source_key: str
    source_value: str
    prefix: str
    site_name: str | None
    timezone: str | None
    files_dir: str | None
    content_types: tuple[tuple[str, str, int], ...]
    """(machine name, human name, nodes)"""
    vocabularies: tuple[tuple[str, str, int], ...]
    """(machine name, human name, terms)"""


_WXR_TYPES = {"article": "post", "page": "page"}


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _comment(value: str) -> str:
    """A database value inside a ``#`` comment: one line, nothing that ends it."""
    return "".join(ch for ch in " ".join(value.split()) if ch.isprintable())


def render_profile(found: Discovery, mapping_file: str) -> str:
    """The commented ``drupal-migrate.toml`` for one site."""
    q = _toml_str
    lines = [
        "# drupal-migrate site profile, written by `drupal-migrate init`: review, then run",
        "#   drupal-migrate run --site " + found.name,
        "# One [sites.NAME] table per site (like drush aliases); `--site NAME` picks one,",
        "# the first is the default. Options on the command line win over this file.",
        "# Relative paths are relative to this file's folder.",
        "",
        f"[sites.{found.name}]",
    ]
    if found.site_name:
        lines.append(f"# Site name: {_comment(found.site_name)}")
    lines += [
        "# Where the Drupal 7 data is: exactly one of dump, db, settings, defaults_file.",
        "# A password written here is refused unless this file is private (chmod 600);",
        '# prefer password_env = "DRUPAL_DB_PASSWORD" or a defaults_file.',
    ]
    for key in SOURCE_KEYS:
        example = {
            "db": '"mysql://reader@db.example.org:3306/drupal"',
            "settings": '"/var/www/drupal/sites/default/settings.php"',
            "defaults_file": '"~/.my.cnf"',
            "dump": '"site.sql.gz"',
        }[key]
        if key == found.source_key:
            lines.append(f"{key} = {q(found.source_value)}")
        else:
            lines.append(f"# {key} = {example}")
    lines += [
        f"prefix = {q(found.prefix)}                 # table prefix (discovered)",
        "",
        "# The old site's URL(s), so absolute links to it are rewritten, and the new site's.",
        '# old_urls = ["http://www.example.org", "http://example.org"]',
        '# site_url = "https://new.example.org"',
        "",
        "# The old sites/default/files folder, to copy files into the exports.",
    ]
    if found.files_dir:
        lines.append(f"# files_dir = {q(found.files_dir)}   # Drupal's file_public_path")
    else:
        lines.append('# files_dir = "/var/www/drupal/sites/default/files"')
    if found.timezone:
        lines.append(f"timezone = {q(found.timezone)}   # Drupal's date_default_timezone")
    else:
        lines.append('# timezone = "UTC"')
    lines += [
        "",
        "# Content types and vocabularies → names on the new platform (edit this file).",
        f"mapping = {q(mapping_file)}",
        "# Missing terms → remap / restore / drop (see mappings/README.md); default: restore",
        "# what was recovered, drop the rest. strategy overrides single tids.",
        '# repair_mapping = "repair-mapping.yml"',
        '# strategy = ["default=drop"]',
        "",
        '# Export targets, in order: any of "jsonl", "wxr", "hugo".',
        'targets = ["jsonl"]',
        '# Redirect map for the web server: "nginx", "apache" or "csv".',
        'redirects = "nginx"',
        "# Everything `run` writes (audit, plan, journal, exports, summary.html).",
        f"out = {q('drupal-migrate-output/' + found.name)}",
        "",
    ]
    return "\n".join(lines)


def render_mapping(found: Discovery) -> str:
    """A starter export mapping: every content type and vocabulary, named as it is today."""
    lines = [
        "# Export mapping written by `drupal-migrate init`: the name each content type and",
        "# vocabulary gets on the new platform. Unlisted names are kept as they are.",
        "# For WordPress: article → post, page → page; a hierarchical vocabulary → category,",
        "# free tagging → post_tag.",
        "content_types:",
    ]
    for machine, label, count in found.content_types:
        hint = f" (WordPress: {_WXR_TYPES[machine]})" if machine in _WXR_TYPES else ""
        lines.append(f"  {machine}: {machine}   # {_comment(label)}, {count} nodes{hint}")
    if not found.content_types:
        lines[-1] += " {}"
    lines.append("vocabularies:")
    for machine, label, count in found.vocabularies:
        lines.append(f"  {machine}: {machine}   # {_comment(label)}, {count} terms")
    if not found.vocabularies:
        lines[-1] += " {}"
    return "\n".join(lines) + "\n"
