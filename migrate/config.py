"""Where the credentials come from: a DSN, Drupal's settings.php, or a MySQL option file.

Everything resolves to one ``ConnectionSpec`` whose password never appears in
its ``repr`` or its ``safe_url``, so it cannot leak into a log or an error.
"""

from __future__ import annotations

import configparser
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from migrate.errors import BadInput
from migrate.identifiers import Prefix

ENV_URL = "DRUPAL_DB_URL"


@dataclass(frozen=True)
class ConnectionSpec:
    database: str
    host: str = "127.0.0.1"
    port: int = 3306
    user: str = "root"
    password: str = field(default="", repr=False)
    unix_socket: str | None = None
    prefix: Prefix = field(default_factory=Prefix)

    @property
    def safe_url(self) -> str:
        """The connection as a URL fit to print: the password is masked."""
        secret = ":***" if self.password else ""
        where = (
            f"localhost?unix_socket={self.unix_socket}"
            if self.unix_socket
            else (f"{self.host}:{self.port}")
        )
        return f"mysql://{self.user}{secret}@{where}/{self.database}"


def from_url(url: str) -> ConnectionSpec:
    """Parse ``mysql://user:pass@host:port/db?prefix=..&unix_socket=..``."""
    parts = urlsplit(url)
    if parts.scheme not in ("mysql", "mariadb", "mysqli"):
        raise BadInput("database URL must start with mysql:// (e.g. mysql://user:pass@host/db)")
    database = unquote(parts.path.lstrip("/"))
    if not database:
        raise BadInput("database URL names no database: mysql://user:pass@host/DBNAME")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    unknown = set(query) - {"prefix", "unix_socket", "charset"}
    if unknown:
        raise BadInput(f"database URL has unknown parameter(s): {', '.join(sorted(unknown))}")
    try:
        port = parts.port or 3306
    except ValueError:
        raise BadInput("database URL has an invalid port") from None
    return ConnectionSpec(
        database=database,
        host=parts.hostname or "127.0.0.1",
        port=port,
        user=unquote(parts.username or "root"),
        password=unquote(parts.password or ""),
        unix_socket=query.get("unix_socket"),
        prefix=Prefix(query.get("prefix", "")),
    )


def from_option_file(path: Path, database: str | None = None) -> ConnectionSpec:
    """Read the ``[client]`` group (and ``[mysql]``) of a MySQL option file."""
    parser = configparser.ConfigParser(allow_no_value=True, interpolation=None, strict=False)
    try:
        with open(path, encoding="utf-8") as fh:
            parser.read_file(fh)
    except OSError as exc:
        raise BadInput(f"{path}: cannot read option file ({exc.strerror})") from None
    except configparser.Error as exc:
        raise BadInput(f"{path}: not a MySQL option file ({exc.message.splitlines()[0]})") from None
    opts: dict[str, str] = {}
    for group in ("client", "mysql", "drupal-migrate"):
        if parser.has_section(group):
            opts.update(
                {k.replace("-", "_"): (v or "").strip("'\"") for k, v in parser[group].items()}
            )
    name = database or opts.get("database")
    if not name:
        raise BadInput(f"{path}: no database= in [client]; add it or use --db")
    try:
        port = int(opts.get("port", "3306"))
    except ValueError:
        raise BadInput(f"{path}: port is not a number") from None
    return ConnectionSpec(
        database=name,
        host=opts.get("host", "127.0.0.1"),
        port=port,
        user=opts.get("user", "root"),
        password=opts.get("password", ""),
        unix_socket=opts.get("socket"),
        prefix=Prefix(opts.get("prefix", "")),
    )


def from_settings_php(path: Path) -> ConnectionSpec:
    """Read ``$databases['default']['default']`` from Drupal 7's settings.php without PHP."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise BadInput(f"{path}: cannot read settings.php ({exc.strerror})") from None
    databases: dict[Any, Any] = {}
    for target, start, line in _assignments(text):
        try:
            value, _ = _PhpLiteral(text, start).parse()
        except _PhpSyntax as exc:
            raise BadInput(f"{path}:{exc.line(text)}: cannot read $databases ({exc})") from None
        node = databases
        for key in target[:-1]:
            node = node.setdefault(key, {})
        if target:
            node[target[-1]] = value
        elif isinstance(value, dict):
            databases = value
        else:
            raise BadInput(f"{path}:{line}: $databases is not an array")
    info = databases.get("default", {}).get("default")
    if not isinstance(info, dict):
        raise BadInput(f"{path}: no $databases['default']['default'] array found")
    driver = info.get("driver", "mysql")
    if driver != "mysql":
        raise BadInput(f"{path}: database driver {driver!r} is not supported (only mysql)")
    prefix = info.get("prefix", "")
    if isinstance(prefix, dict):
        per_table = {str(k): str(v) for k, v in prefix.items() if k != "default"}
        prefix_obj = Prefix(str(prefix.get("default", "")), per_table)
    else:
        prefix_obj = Prefix(str(prefix or ""))
    if not info.get("database"):
        raise BadInput(f"{path}: $databases['default']['default'] has no 'database'")
    return ConnectionSpec(
        database=str(info["database"]),
        host=str(info.get("host") or "127.0.0.1"),
        port=int(info.get("port") or 3306),
        user=str(info.get("username", "root")),
        password=str(info.get("password", "")),
        unix_socket=info.get("unix_socket") or None,
        prefix=prefix_obj,
    )


def resolve(
    db_url: str | None = None,
    settings: Path | None = None,
    defaults_file: Path | None = None,
    prefix: str | None = None,
) -> ConnectionSpec:
    """Pick the credential source in order of preference: URL, env, settings.php, option file."""
    url = db_url or os.environ.get(ENV_URL)
    if url:
        spec = from_url(url)
    elif settings:
        spec = from_settings_php(settings)
    elif defaults_file:
        spec = from_option_file(defaults_file)
    else:
        raise BadInput(
            f"no database given: use --db mysql://user@host/db, ${ENV_URL}, "
            "--settings settings.php, --defaults-file, or --dump FILE"
        )
    if prefix is not None:
        spec = replace(spec, prefix=Prefix(prefix))
    return spec


_ASSIGN = re.compile(r"^\s*\$databases\s*((?:\[\s*(?:'[^']*'|\"[^\"]*\")\s*\]\s*)*)=", re.M)
_KEY = re.compile(r"'([^']*)'|\"([^\"]*)\"")
_COMMENT = re.compile(r"/\*.*?\*/|(?<![:'\"])(?://|#)[^\n]*", re.S)


def _assignments(text: str) -> list[tuple[list[str], int, int]]:
    """Every ``$databases[...] = `` outside comments: its key path and where its value starts."""
    found = []
    blanked = _COMMENT.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)
    for m in _ASSIGN.finditer(blanked):
        keys = [a or b for a, b in _KEY.findall(m.group(1))]
        found.append((keys, m.end(), text.count("\n", 0, m.start()) + 1))
    return found


class _PhpSyntax(Exception):
    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.pos = pos

    def line(self, text: str) -> int:
        return text.count("\n", 0, self.pos) + 1


_TOKEN = re.compile(
    r"""\s*(?:
      (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
    | (?P<num>-?\d+(?:\.\d+)?)
    | (?P<word>[A-Za-z_]+)
    | (?P<arrow>=>)
    | (?P<punct>[\[\](),;])
    )""",
    re.X | re.S,
)


class _PhpLiteral:
    """A recursive-descent reader for the PHP literals settings.php uses."""

    def __init__(self, text: str, pos: int) -> None:
        self.text = text
        self.pos = pos

    def _next(self) -> tuple[str, str]:
        m = _TOKEN.match(self.text, self.pos)
        if not m:
            raise _PhpSyntax("unexpected text", self.pos)
        self.pos = m.end()
        kind = m.lastgroup or ""
        return kind, m.group(kind)

    def _peek(self) -> tuple[str, str]:
        saved = self.pos
        try:
            return self._next()
        finally:
            self.pos = saved

    def parse(self) -> tuple[Any, int]:
        kind, tok = self._next()
        if kind == "str":
            body = tok[1:-1]
            return re.sub(r"\\(['\"\\$])", r"\1", body), self.pos
        if kind == "num":
            return (float(tok) if "." in tok else int(tok)), self.pos
        if kind == "word" and tok.lower() in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[tok.lower()], self.pos
        if kind == "word" and tok.lower() == "array":
            if self._next() != ("punct", "("):
                raise _PhpSyntax("expected ( after array", self.pos)
            return self._items(")"), self.pos
        if (kind, tok) == ("punct", "["):
            return self._items("]"), self.pos
        raise _PhpSyntax(f"unexpected {tok!r}", self.pos)

    def _items(self, close: str) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        index = 0
        while True:
            if self._peek() == ("punct", close):
                self._next()
                return out
            value, _ = self.parse()
            if self._peek()[0] == "arrow":
                self._next()
                key, (value, _) = value, self.parse()
            else:
                key, index = index, index + 1
            out[key] = value
            _, tok = self._next()
            if tok == close:
                return out
            if tok != ",":
                raise _PhpSyntax(f"expected , or {close}", self.pos)
