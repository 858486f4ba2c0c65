"""Safe Azure Table PartitionKey/RowKey values built from hostile strings.

Table keys may not contain `/ \\ # ?` or control characters and are limited to 1 KiB, while Graph ids
contain `/ + =` and mailboxes contain `@` and `'`. Keys are therefore percent-escaped: every character
outside a small ASCII set becomes `%XX` per UTF-8 byte. The result is plain ASCII, reversible and
injective, so two different values never share a key. Values whose escaped form would be too long are
replaced by `~` + a SHA-256 digest: still injective in practice, but not reversible, so the stores always
keep the original value in a property and compare it after a lookup.
"""

from __future__ import annotations

import hashlib
import string

# Characters kept as they are. `%` (the escape), `~` (the digest marker), `|` (our separator) and `'`
# (OData quoting) are deliberately absent.
_SAFE = frozenset(string.ascii_letters + string.digits + "-._@")
_HASH_MARK = "~"
HASH_MARK = (
    _HASH_MARK  # digests of over-long components start with it; it sorts above every escaped character
)
# One component stays well below the 1 KiB key limit (512 UTF-16 characters to be safe) even when two
# components and a prefix are joined into one key.
MAX_COMPONENT = 240
SEPARATOR = "|"


def escape(value: str) -> str:
    """Reversible percent-escaping of `value` (ASCII output, no forbidden characters)."""
    out: list[str] = []
    for char in value:
        if char in _SAFE:
            out.append(char)
        else:
            # surrogatepass keeps lone surrogates (possible in parsed JSON) reversible instead of crashing.
            out.extend(f"%{byte:02X}" for byte in char.encode("utf-8", "surrogatepass"))
    return "".join(out)


def unescape(encoded: str) -> str:
    """Inverse of `escape`; raises ValueError for text `escape` cannot have produced."""
    raw = bytearray()
    i = 0
    while i < len(encoded):
        char = encoded[i]
        if char == "%":
            hex_pair = encoded[i + 1 : i + 3]
            if len(hex_pair) != 2 or not all(c in string.hexdigits for c in hex_pair):
                raise ValueError("malformed escape in key")
            raw.append(int(hex_pair, 16))
            i += 3
        elif char in _SAFE:
            raw.append(ord(char))
            i += 1
        else:
            raise ValueError("character not allowed in an escaped key")
    return raw.decode("utf-8", "surrogatepass")


def encode_component(value: str) -> str:
    """Key-safe form of one value: escaped, or a digest when the escaped form would be too long."""
    escaped = escape(value)
    if len(escaped) <= MAX_COMPONENT:
        return escaped
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{_HASH_MARK}{digest}"


def is_reversible(component: str) -> bool:
    """True when `component` came from `escape` (not a digest) and `decode_component` can invert it."""
    return not component.startswith(_HASH_MARK)


def decode_component(component: str) -> str:
    if not is_reversible(component):
        raise ValueError("a digest key cannot be decoded; read the original value from the entity")
    return unescape(component)


def join_key(*values: str) -> str:
    """One key from several values; the separator never occurs inside an encoded component."""
    return SEPARATOR.join(encode_component(v) for v in values)
