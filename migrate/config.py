"""Where the credentials come from: a DSN, Drupal's settings.php, or a MySQL option file.

Everything resolves to one ``ConnectionSpec`` whose password never appears in
its ``repr`` or its ``safe_url``, so it cannot leak into a log or an error.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from migrate.errors import BadInput
from migrate.identifiers import Prefix

ENV_URL = "DRUPAL_DB_URL"
URL_CHARSETS = ("utf8mb4", "utf8", "utf8mb3")
"""A URL's ``?charset=`` values: what Drupal 7 connects with; the toolkit reads as utf8mb4."""


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
    query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    unknown = set(query) - {"prefix", "unix_socket", "charset"}
    if unknown:
        raise BadInput(f"database URL has unknown parameter(s): {', '.join(sorted(unknown))}")
    charset = query.get("charset", "utf8mb4").lower()
    if charset not in URL_CHARSETS:
        raise BadInput(
            f"database URL has charset={charset[:40]!r}: the toolkit reads Drupal 7 as"
            f" utf8mb4 and accepts only {', '.join(URL_CHARSETS)}"
        )
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
        unix_socket=query.get("unix_socket") or None,
        prefix=Prefix(query.get("prefix", "")),
    )


def from_option_file(path: Path, database: str | None = None) -> ConnectionSpec:
    """Read the ``[client]`` group (and ``[mysql]``) of a MySQL option file."""
    opts = read_option_file(path, ("client", "mysql", "drupal-migrate"))
    name = database or opts.get("database")
    if not name:
        raise BadInput(f"{path}: no database= in [client]; add it or use --db")
    port_text = opts.get("port", "3306")
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise BadInput(f"{path}: port is not a number from 1 to 65535")
    return ConnectionSpec(
        database=name,
        host=opts.get("host", "127.0.0.1"),
        port=int(port_text),
        user=opts.get("user", "root"),
        password=opts.get("password", ""),
        unix_socket=opts.get("socket"),
        prefix=Prefix(opts.get("prefix", "")),
    )


def read_option_file(path: Path, groups: tuple[str, ...]) -> dict[str, str]:
    """The options of ``groups`` as the mysql client reads them (later groups win).

    As in MySQL's ``my_default.c``: ``#`` outside quotes starts a comment anywhere on
    a line, ``;`` at its start; a value in matching quotes loses them and its
    backslash escapes are read; ``!include`` lines are not followed. A file that is not
    UTF-8 (a UTF-16 byte-order mark, say) is one line of error; nothing is echoed from
    it, since it holds a password.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BadInput(f"{path}: cannot read option file ({exc.strerror})") from None
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise BadInput(f"{path}: option file is UTF-16 (byte-order mark); save it as UTF-8")
    try:
        text = data.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    except UnicodeDecodeError as exc:
        at = data.count(b"\n", 0, exc.start) + 1
        raise BadInput(f"{path}:{at}: option file is not UTF-8") from None
    found: dict[str, dict[str, str]] = {}
    group: str | None = None
    for number, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.strip()
        if not line or line[0] in "#;" or line.startswith("!"):
            continue
        if line.startswith("["):
            if not line.endswith("]"):
                raise BadInput(f"{path}:{number}: group header without ']'")
            group = line[1:-1].strip().lower()
            continue
        if group is None:
            raise BadInput(f"{path}:{number}: option outside a [group]")
        key, _, value = _without_comment(line).partition("=")
        found.setdefault(group, {})[key.strip().replace("-", "_").lower()] = _option_value(
            value.strip()
        )
    opts: dict[str, str] = {}
    for name in groups:
        opts.update(found.get(name, {}))
    return opts


def _without_comment(line: str) -> str:
    """The line up to a ``#`` that is outside quotes (MySQL's ``remove_end_comment``)."""
    quote, escape = "", False
    for index, char in enumerate(line):
        if char in "'\"" and not escape:
            quote = "" if quote == char else quote or char
        if not quote and char == "#":
            return line[:index].rstrip()
        escape = bool(quote) and char == "\\" and not escape
    return line


_OPTION_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "s": " "}


def _option_value(value: str) -> str:
    """A value without its matching quotes, escapes read as the mysql client reads them."""
    if len(value) >= 2 and value[0] in "'\"" and value[-1] == value[0]:
        value = value[1:-1]
    out, index = [], 0
    while index < len(value):
        char = value[index]
        if char == "\\" and index + 1 < len(value):
            nxt = value[index + 1]
            out.append(_OPTION_ESCAPES.get(nxt, nxt if nxt in "\"'\\" else "\\" + nxt))
            index += 2
        else:
            out.append(char)
            index += 1
    return "".join(out)


def from_settings_php(path: Path) -> ConnectionSpec:
    """Read ``$databases['default']['default']`` from Drupal 7's settings.php without PHP."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise BadInput(f"{path}: cannot read settings.php ({exc.strerror})") from None
    code = _without_php_comments(text)
    databases: dict[Any, Any] = {}
    for target, start, line in _assignments(code):
        try:
            value, _ = _PhpLiteral(code, start).parse()
        except _PhpSyntax as exc:
            raise BadInput(f"{path}:{exc.line(code)}: cannot read $databases ({exc})") from None
        except RecursionError:
            raise BadInput(f"{path}:{line}: $databases is nested too deeply") from None
        node = databases
        for depth, key in enumerate(target[:-1]):
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                named = "".join(f"[{k!r}]" for k in target[: depth + 1])
                raise BadInput(f"{path}:{line}: $databases{named} is not an array")
        if target:
            node[target[-1]] = value
        elif isinstance(value, dict):
            databases = value
        else:
            raise BadInput(f"{path}:{line}: $databases is not an array")
    return _settings_spec(path, databases)


def _settings_spec(path: Path, databases: dict[Any, Any]) -> ConnectionSpec:
    """The connection ``$databases['default']['default']`` describes, its values checked."""
    default = databases.get("default", {})
    if not isinstance(default, dict):
        raise BadInput(f"{path}: $databases['default'] is not an array")
    info = default.get("default")
    if not isinstance(info, dict):
        raise BadInput(f"{path}: no $databases['default']['default'] array found")
    driver = info.get("driver", "mysql")
    if driver != "mysql":
        raise BadInput(
            f"{path}: database driver {str(driver)[:40]!r} is not supported (only mysql)"
        )
    for key in ("database", "username", "password", "host", "port", "unix_socket"):
        if isinstance(info.get(key), dict):
            raise BadInput(f"{path}: $databases['default']['default']['{key}'] is an array")
    if not info.get("database"):
        raise BadInput(f"{path}: $databases['default']['default'] has no 'database'")
    port = str(info.get("port") or 3306)
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise BadInput(
            f"{path}: $databases['default']['default']['port'] is not a number from 1 to 65535"
        )
    prefix = info.get("prefix", "")
    if isinstance(prefix, dict):
        per_table = {str(k): str(v) for k, v in prefix.items() if k != "default"}
        prefix_obj = Prefix(str(prefix.get("default", "")), per_table)
    else:
        prefix_obj = Prefix(str(prefix or ""))
    return ConnectionSpec(
        database=str(info["database"]),
        host=str(info.get("host") or "127.0.0.1"),
        port=int(port),
        user=str(info.get("username", "root")),
        password=str(info.get("password", "")),
        unix_socket=str(info.get("unix_socket") or "") or None,
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
_STRING_OR_COMMENT = re.compile(
    r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|/\*.*?(?:\*/|\Z)|(?://|\#)[^\n]*""", re.S
)


def _without_php_comments(text: str) -> str:
    """``text`` with every PHP comment blanked (newlines kept), strings left as they are.

    Strings are matched first, so a ``#`` or ``//`` inside a password or a URL is not
    taken for a comment, and a comment holding a quote does not open a string.
    """

    def blank(m: re.Match[str]) -> str:
        token = m.group(0)
        return token if token[0] in "'\"" else re.sub(r"[^\n]", " ", token)

    return _STRING_OR_COMMENT.sub(blank, text)


def _assignments(code: str) -> list[tuple[list[str], int, int]]:
    """Every ``$databases[...] = `` of comment-free ``code``: key path, value start, line."""
    found = []
    for m in _ASSIGN.finditer(code):
        keys = [a or b for a, b in _KEY.findall(m.group(1))]
        found.append((keys, m.end(), code.count("\n", 0, m.start()) + 1))
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


_TOKEN_NAMES = {"str": "string", "num": "number", "word": "word", "arrow": "=>", "punct": "sign"}


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
        # Never the token itself: it may be the password.
        raise _PhpSyntax(f"unexpected {_TOKEN_NAMES.get(kind, 'text')}", self.pos)

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
