"""What happens to prompt, response and tool-input text on its way to storage.

Compliance records carry source code, secrets and personal data in
``prompt_text``, ``response_text`` and ``tool_input``. Loading that text must
be a choice, so each field has an action:

- ``keep``: stored as is;
- ``hash`` (the default): HMAC-SHA256 with a caller's salt, hex. Equal texts
  still join and count, nothing readable is stored, and without the salt a
  guessed text cannot be checked against the hash;
- ``drop``: stored as null.

The action applies to the field wherever it appears in the record (also
nested), and to the ``record_json`` copy of the record: no cleartext leaks
through the JSON column.
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

#: The fields that hold user content, in compliance records.
CONTENT_FIELDS: tuple[str, ...] = ("prompt_text", "response_text", "tool_input")


class ContentAction(enum.StrEnum):
    KEEP = "keep"
    HASH = "hash"
    DROP = "drop"


@dataclass(frozen=True)
class ContentPolicy:
    """One action per content field, and the salt hashing needs.

    ``ContentPolicy(salt=...)`` hashes all three fields. ``salt`` is required
    as soon as one field is hashed; it is never shown in ``repr``.
    """

    prompt_text: ContentAction = ContentAction.HASH
    response_text: ContentAction = ContentAction.HASH
    tool_input: ContentAction = ContentAction.HASH
    salt: bytes | str | None = field(default=None, repr=False)
    #: The fields whose action is not ``keep``, with that action.
    _changed: Mapping[str, ContentAction] = field(init=False, repr=False, compare=False)
    #: Finds ``_changed``'s fields as keys of compact JSON (``"prompt_text":``), the name as group 1.
    json_keys: re.Pattern[bytes] = field(init=False, repr=False, compare=False)
    _hmac: _HmacSha256 | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in CONTENT_FIELDS:
            raw = getattr(self, name)
            try:
                object.__setattr__(self, name, ContentAction(raw))
            except ValueError:
                choices = ", ".join(a.value for a in ContentAction)
                raise ValueError(f"content policy for {name}: {raw!r} is not one of {choices}") from None
        if isinstance(self.salt, str):
            object.__setattr__(self, "salt", self.salt.encode())
        if ContentAction.HASH in self.actions.values() and not self.salt:
            raise ValueError("content policy 'hash' needs a non-empty salt (keep it in a secret)")
        # Looked up per field of every record (hundreds of thousands a day): computed once.
        changed = {name: action for name, action in self.actions.items() if action is not ContentAction.KEEP}
        object.__setattr__(self, "_changed", MappingProxyType(changed))
        names = b"|".join(re.escape(name.encode()) for name in changed) or b"(?!)"  # (?!): matches nothing
        object.__setattr__(self, "json_keys", re.compile(b'"(' + names + b')":'))
        object.__setattr__(
            self, "_hmac", _HmacSha256(self.salt) if isinstance(self.salt, bytes) and self.salt else None
        )

    @classmethod
    def from_mapping(cls, actions: Mapping[str, str], salt: bytes | str | None = None) -> ContentPolicy:
        """Build from ``{"prompt_text": "keep", ...}``; unnamed fields keep the default (hash)."""
        unknown = set(actions) - set(CONTENT_FIELDS)
        if unknown:
            raise ValueError(f"content policy: unknown fields {sorted(unknown)}; known: {CONTENT_FIELDS}")
        return cls(salt=salt, **{k: ContentAction(v) for k, v in actions.items()})

    @property
    def actions(self) -> dict[str, ContentAction]:
        return {name: getattr(self, name) for name in CONTENT_FIELDS}

    @property
    def changed(self) -> Mapping[str, ContentAction]:
        """The fields whose action is not ``keep``, with that action."""
        return self._changed

    @property
    def keeps_all(self) -> bool:
        return not self._changed

    def hash_text(self, value: Any) -> str:
        """HMAC-SHA256 hex of a text (non-text values: of their canonical JSON)."""
        text = value if isinstance(value, str) else canonical_json(value)
        assert self._hmac is not None
        return self._hmac(text.encode()).hex()

    def apply(self, name: str, value: Any) -> Any:
        """The stored form of one content field's value."""
        action = self._changed.get(name)
        if value is None or action is None:
            return value
        if action is ContentAction.DROP:
            return None
        return self.hash_text(value)

    def redact(self, record: Any) -> Any:
        """``record`` with every content field replaced by its stored form.

        Copies only the containers on the way to a changed field; the input is
        never modified.
        """
        if self.keeps_all:
            return record
        return self._redact(record)

    def _redact(self, node: Any) -> Any:
        if isinstance(node, dict):
            changed = self._changed
            out: dict[str, Any] | None = None
            for key, value in node.items():
                if key in changed:
                    new = self.apply(key, value)
                elif isinstance(value, (dict, list)):  # a tuple: faster than a union here
                    new = self._redact(value)
                else:
                    continue
                if new is not value:
                    if out is None:
                        out = dict(node)
                    out[key] = new
            return node if out is None else out
        if isinstance(node, list):
            items = [self._redact(v) for v in node]
            return node if all(a is b for a, b in zip(items, node, strict=True)) else items
        return node


#: HMAC's inner and outer pads (RFC 2104) as byte translation tables, as the standard library's ``hmac`` builds them.
_IPAD = bytes(b ^ 0x36 for b in range(256))
_OPAD = bytes(b ^ 0x5C for b in range(256))


class _HmacSha256:
    """HMAC-SHA256 with one key: its two pad states hashed once, copied per text.

    Written here because ``hmac.digest`` keys OpenSSL anew on every call, which
    costs more than hashing a short text (figures: ``bench/RESULTS.md``, issue 18).
    """

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        block = (hashlib.sha256(key).digest() if len(key) > 64 else key).ljust(64, b"\0")
        self._inner = hashlib.sha256(block.translate(_IPAD))
        self._outer = hashlib.sha256(block.translate(_OPAD))

    def __call__(self, text: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(text)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()


def canonical_json(value: Any) -> str:
    """Sorted-key, compact JSON: one text per value, so equal values hash alike."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
