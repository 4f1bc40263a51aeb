"""Base for the frozen model objects the core returns.

Front ends render these; ``to_json()`` gives plain JSON-able data (kernel uapi
field names as keys), the text renderers read the same attributes.
"""

from __future__ import annotations

import dataclasses
from enum import Enum
from typing import Any


def jsonable(value: Any) -> Any:
    """Convert model values to JSON data without copying more than needed."""
    if isinstance(value, Model):
        return value.to_json()
    if isinstance(value, (int, str, float, bool)) or value is None:
        return value
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): v if type(v) is int else jsonable(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [v if type(v) is int else jsonable(v) for v in value]
    raise TypeError(f"cannot convert {type(value).__name__} to JSON")


_JSON_FIELDS: dict[type, tuple[str, ...]] = {}


def _json_fields(cls: type) -> tuple[str, ...]:
    names = _JSON_FIELDS.get(cls)
    if names is None:
        names = tuple(f.name for f in dataclasses.fields(cls) if f.metadata.get("json", True))
        _JSON_FIELDS[cls] = names  # a cache of derived class facts, not state
    return names


class Model:
    """Mixin for frozen dataclasses: ``to_json`` over their fields.

    Fields whose metadata has ``json=False`` are left out (back references,
    raw buffers kept for the renderers).  This runs once per event on the
    trace hot path, so plain values are passed through without recursion.
    """

    def to_json(self) -> dict[str, Any]:
        return self._fields_json(())

    def _fields_json(self, skip: tuple[str, ...]) -> dict[str, Any]:
        """The JSON of every field except ``skip`` (which a subclass renders itself)."""
        out: dict[str, Any] = {}
        for name in _json_fields(type(self)):
            if name in skip:
                continue
            v = getattr(self, name)
            if v is None or type(v) in (int, str, bool, float):
                out[name] = v
            else:
                out[name] = jsonable(v)
        return out


def internal(default: Any = dataclasses.MISSING) -> Any:
    """A dataclass field that is not part of the JSON document."""
    if default is dataclasses.MISSING:
        return dataclasses.field(metadata={"json": False}, compare=False, repr=False)
    return dataclasses.field(default=default, metadata={"json": False}, compare=False, repr=False)
