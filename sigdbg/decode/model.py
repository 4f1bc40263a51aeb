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
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [jsonable(v) for v in value]
    raise TypeError(f"cannot convert {type(value).__name__} to JSON")


class Model:
    """Mixin for frozen dataclasses: ``to_json`` over their fields.

    Fields whose metadata has ``json=False`` are left out (back references,
    raw buffers kept for the renderers).
    """

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            if f.metadata.get("json", True):
                out[f.name] = jsonable(getattr(self, f.name))
        return out


def internal(default: Any = dataclasses.MISSING) -> Any:
    """A dataclass field that is not part of the JSON document."""
    if default is dataclasses.MISSING:
        return dataclasses.field(metadata={"json": False}, compare=False, repr=False)
    return dataclasses.field(default=default, metadata={"json": False}, compare=False, repr=False)
