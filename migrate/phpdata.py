"""PHP-serialized values, decoded in one place.

Drupal stores settings, field definitions and log variables with PHP's
``serialize()``. This is the only module that calls phpserialize; it returns
plain Python values (objects become dicts) or raises ``SchemaError`` naming the
table and row the bad value came from.
"""

from __future__ import annotations

from typing import Any

import phpserialize

from migrate.errors import SchemaError


def _object(_name: str, values: dict[Any, Any]) -> dict[Any, Any]:
    return values


def unserialize(value: bytes | str | None, where: str) -> Any:
    """Decode one serialized value; ``where`` says which table and row it came from."""
    if value is None:
        return None
    raw = value.encode("utf-8") if isinstance(value, str) else bytes(value)
    try:
        return phpserialize.loads(raw, decode_strings=True, errors="strict", object_hook=_object)
    except UnicodeDecodeError as exc:
        raise SchemaError(
            f"{where}: serialized PHP holds invalid UTF-8 at byte {exc.start}"
        ) from None
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        raise SchemaError(f"{where}: malformed serialized PHP ({exc or 'truncated'})") from None
    except RecursionError:
        raise SchemaError(f"{where}: serialized PHP nested too deeply to read") from None


def unserialize_array(value: bytes | str | None, where: str) -> dict[Any, Any]:
    """Decode a value Drupal always stores as an array (field settings, module info).

    Empty or NULL is an empty array; anything else that is not an array (``i:5;``)
    is a ``SchemaError``: reading on would misread the site.
    """
    decoded = unserialize(value, where)
    if decoded is None or decoded == "":
        return {}
    if isinstance(decoded, list):
        return dict(enumerate(decoded))
    if not isinstance(decoded, dict):
        raise SchemaError(
            f"{where}: serialized PHP is a {_php_type(decoded)}, not the array Drupal stores"
        )
    return decoded


def _php_type(value: Any) -> str:
    names = {bool: "boolean", int: "integer", float: "float", str: "string"}
    return names.get(type(value), type(value).__name__)


def unserialize_bytes(value: bytes | str | None, where: str) -> Any:
    """Decode one serialized value keeping strings as bytes (a cached page's gzipped body)."""
    if value is None:
        return None
    raw = value.encode("utf-8") if isinstance(value, str) else bytes(value)
    try:
        return phpserialize.loads(raw, decode_strings=False, object_hook=_object)
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        raise SchemaError(f"{where}: malformed serialized PHP ({exc or 'truncated'})") from None
    except RecursionError:
        raise SchemaError(f"{where}: serialized PHP nested too deeply to read") from None


def as_list(value: Any) -> list[Any]:
    """A PHP list (an array keyed 0..n-1) as a Python list, in key order."""
    if isinstance(value, dict):
        return [value[k] for k in sorted(value, key=lambda k: (not isinstance(k, int), k))]
    if isinstance(value, list):
        return value
    return []
