"""Base for the frozen model objects the core returns.

Front ends render these; ``to_json()`` gives plain JSON-able data (kernel uapi
field names as keys), the text renderers read the same attributes.

``json_view()`` is the same data for a serializer that consumes it at once
(the trace writer): it may share containers with the model and its caches,
so it must not be modified.  ``to_json()`` is always the caller's own copy.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from enum import Enum
from typing import Any


def jsonable(value: Any) -> Any:
    """Convert model values to JSON data the caller owns."""
    if isinstance(value, Model):
        return value.to_json()
    return _plain(value, jsonable)


def jsonable_view(value: Any) -> Any:
    """Convert model values to read-only JSON data (see ``Model.json_view``)."""
    if isinstance(value, Model):
        return value.json_view()
    return _plain(value, jsonable_view)


def _plain(value: Any, jsonable: Any) -> Any:
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


# How a field's declared type turns into JSON without inspecting the value:
# plain scalars pass through, flat containers of scalars are copied.
_PLAIN_TYPES = {"int", "str", "bool", "float"}
_COPY_DICT = {"dict[str, int]", "dict[str, str]"}
_COPY_SEQ = {"tuple[int, ...]", "tuple[str, ...]", "list[int]", "list[str]"}
_HEX = {"bytes"}
_PAIRS = {"dict[str, tuple[int, int]]", "tuple[tuple[str, int, int], ...]"}


def _model_type(cls: type, annotation: str) -> type | None:
    """The Model subclass a field annotation names, if it names exactly one.

    Annotations are strings here (``from __future__ import annotations``);
    they are resolved in the modules of ``cls`` and its bases.
    """
    for base in cls.__mro__:
        found = vars(sys.modules[base.__module__]).get(annotation)
        if isinstance(found, type):
            return found if issubclass(found, Model) else None
    return None


def _field_expr(cls: type, index: int, name: str, annotation: str, view: bool,
                wire: bool = False) -> str:
    """Source of the JSON value of field ``name`` (value in local ``d``).

    A view passes the model's own flat containers through uncopied; a wire
    view (``wire``, always a view) also asks nested models for theirs, with
    the encoder in local ``_enc``.
    """
    get = f"d[{name!r}]"
    # anything not spelled as below (Optional[...], other types) takes the
    # generic converter, which is always right, only slower
    parts = [p.strip() for p in annotation.split("|")]
    optional = "None" in parts
    parts = [p for p in parts if p != "None"]
    if len(parts) > 1 and all(_model_type(cls, p) is not None for p in parts):
        parts = parts[:1]  # a union of models (one frame model per ABI): each has json_*
    if len(parts) != 1:
        return f"_jsonable({get})"
    kind = parts[0]
    if kind in _PLAIN_TYPES:
        return get
    if kind in _COPY_DICT and view:
        return get
    if kind in _COPY_DICT:
        return f"(None if {get} is None else dict({get}))" if optional else f"dict({get})"
    if kind in _HEX:
        return f"(None if {get} is None else {get}.hex())" if optional else f"{get}.hex()"
    if kind in _PAIRS and not optional:
        # register -> (before, after), frame diffs: tuples of scalars become arrays
        if kind.startswith("dict"):
            return f"{{k: list(v) for k, v in {get}.items()}}"
        return f"[list(t) for t in {get}]"
    if kind in _COPY_SEQ:
        return f"(None if {get} is None else list({get}))" if optional else f"list({get})"
    if _model_type(cls, kind) is not None:
        # a nested model: its own (compiled or cached) JSON, no type dispatch
        call = "json_wire(_enc" if wire else "json_view(" if view else "to_json("
        if not optional:
            return f"{get}.{call})"
        return f"(None if (_v{index} := {get}) is None else _v{index}.{call}))"
    return f"_jsonable({get})"


_JSON_FNS: dict[tuple[type, tuple[str, ...], bool, bool], Any] = {}


def _json_fn(cls: type, skip: tuple[str, ...], view: bool, wire: bool = False) -> Any:
    """A function building the JSON dict of ``cls`` instances, compiled once.

    Generated from the dataclass fields and their declared types (names are
    data, passed through ``repr``), so a model's JSON costs one dict display
    instead of a per-field loop with type tests.  A class's ``_json_head``
    (constant key/value pairs, e.g. an event's name) comes first.
    """
    key = (cls, skip, view or wire, wire)
    fn = _JSON_FNS.get(key)
    if fn is None:
        head: tuple[tuple[str, Any], ...] = getattr(cls, "_json_head", ())
        items = [f"{k!r}: {v!r}" for k, v in head]
        items += [
            f"{f.metadata.get('json_key', f.name)!r}: "
            f"{_field_expr(cls, i, f.name, str(f.type), view or wire, wire)}"
            for i, f in enumerate(dataclasses.fields(cls))
            if f.metadata.get("json", True) and f.name not in skip
        ]
        args = "self, _enc" if wire else "self"
        src = (f"def to_json({args}):\n    d = self.__dict__\n"
               "    return {" + ", ".join(items) + "}\n")
        namespace: dict[str, Any] = {"_jsonable": jsonable_view if view or wire else jsonable}
        exec(compile(src, f"<to_json {cls.__name__}>", "exec"), namespace)  # noqa: S102
        fn = namespace["to_json"]
        _JSON_FNS[key] = fn  # a cache of derived class facts, not state
    return fn


#: class -> its json_view builder (the compiled one, or its own ``_json``)
_VIEW_FNS: dict[type, Any] = {}


def _view_fn(cls: type) -> Any:
    if cls._json is Model._json:  # type: ignore[attr-defined]
        fn = _json_fn(cls, (), True)
    else:
        def fn(self: Model) -> dict[str, Any]:
            return self._json(True)
    _VIEW_FNS[cls] = fn
    return fn


#: class -> its json_wire builder (compiled, or its own ``_json`` view)
_WIRE_FNS: dict[type, Any] = {}


def compiled_wire(cls: type) -> Any:
    """``cls``'s compiled wire builder (its fields only)."""
    return _json_fn(cls, (), True, True)


def _wire_fn(cls: type) -> Any:
    if cls._json is Model._json:  # type: ignore[attr-defined]
        fn = compiled_wire(cls)
    else:  # a class with JSON of its own shape: its view, nothing nested to encode
        def fn(self: Model, encode: Callable[[Any], Any]) -> dict[str, Any]:
            return self._json(True)
    _WIRE_FNS[cls] = fn
    return fn


class Model:
    """Mixin for frozen dataclasses: ``to_json`` over their fields.

    Fields whose metadata has ``json=False`` are left out (back references,
    raw buffers kept for the renderers); ``json_key`` names a field's JSON
    key when the schema's differs from the field's (an arch's name the
    schema keeps for every ABI, :data:`sigdbg.abi.SCHEMA_KEYS`).  This runs once per event on the
    trace hot path, hence the per-class compiled builder.
    """

    #: constant (key, value) pairs put first in the JSON object
    _json_head: tuple[tuple[str, Any], ...] = ()

    def to_json(self) -> dict[str, Any]:
        """This model as JSON data that the caller owns."""
        return self._json(False)

    def json_view(self) -> dict[str, Any]:
        """The same data, possibly sharing containers with the model: read only."""
        fn = _VIEW_FNS.get(type(self))
        if fn is None:
            fn = _view_fn(type(self))
        out: dict[str, Any] = fn(self)
        return out

    def json_wire(self, encode: Callable[[Any], Any]) -> Any:
        """``json_view`` for a serializer that accepts pre-encoded parts.

        Models decoded once and shared between events (see SharedModel) come
        as ``encode(their view)``, encoded once and kept: the trace writer
        passes ``orjson.Fragment`` of the serialized bytes, so an FP state that
        repeats frame after frame is serialized once, not per event.
        ``encode`` must be one long-lived function (the cache is keyed by it).
        """
        fn = _WIRE_FNS.get(type(self))
        if fn is None:
            fn = _wire_fn(type(self))
        return fn(self, encode)

    def _json(self, view: bool) -> dict[str, Any]:
        """Subclasses with JSON of their own shape override this."""
        return self._fields_json((), view)

    def _fields_json(self, skip: tuple[str, ...], view: bool = False) -> dict[str, Any]:
        """The JSON of every field except ``skip`` (which a subclass renders itself)."""
        out: dict[str, Any] = _json_fn(type(self), skip, view)(self)
        return out


def _copy_json(value: Any) -> Any:
    if type(value) is list:
        return [_copy_json(v) if type(v) in (list, dict) else v for v in value]
    if type(value) is dict:
        return {k: _copy_json(v) if type(v) in (list, dict) else v for k, v in value.items()}
    return value


class SharedModel(Model):
    """A model whose JSON is built once (``_build_json``) and then reused.

    Restorers, siginfos and FP states repeat from one signal to the next and
    are decoded once per distinct byte image; a frame the handler left alone
    is reported at handler entry and again at sigreturn.  ``json_view()``
    returns the cached data, ``to_json()`` a copy the caller owns.
    """

    def json_view(self) -> dict[str, Any]:
        cached: dict[str, Any] | None = self.__dict__.get("_json_cache")
        if cached is None:
            cached = self._build_json()
            object.__setattr__(self, "_json_cache", cached)  # a cache, not state
        return cached

    def _json(self, view: bool) -> dict[str, Any]:
        cached = self.json_view()
        if view:
            return cached
        # the caller owns the result: copy every container
        return {k: _copy_json(v) if type(v) in (list, dict) else v for k, v in cached.items()}

    def _build_json(self) -> dict[str, Any]:
        return self._fields_json((), True)

    #: json_wire hands out ``encode(view)`` (False: the view itself, with its
    #: nested models encoded -- for models made anew per signal, e.g. frames)
    _wire_encoded: bool = True

    def json_wire(self, encode: Callable[[Any], Any]) -> Any:
        cached = self.__dict__.get("_wire_cache")
        if cached is not None and cached[0] is encode:
            return cached[1]
        wire = self._build_wire(encode)
        if self._wire_encoded:
            wire = encode(wire)
        object.__setattr__(self, "_wire_cache", (encode, wire))  # a cache, not state
        return wire

    def _build_wire(self, encode: Callable[[Any], Any]) -> Any:
        """The view with nested models as ``json_wire`` gives them.  A class
        whose ``_build_json`` has its own shape keeps it (nothing nested)."""
        if type(self)._build_json is not SharedModel._build_json:
            return self.json_view()
        return compiled_wire(type(self))(self, encode)


def one_store_init(cls: Any) -> Any:
    """Give a frozen dataclass an ``__init__`` that stores all fields at once.

    A frozen dataclass's generated ``__init__`` sets each field through
    ``object.__setattr__``; for the models built several times per signal
    on the trace path (frames, FP states, events) that is a measurable
    share of the cost.  This ``__init__`` has the same signature and
    defaults and fills the instance dict in one store.  Classes with
    ``__post_init__``, default factories or slots are refused.
    """
    fields = dataclasses.fields(cls)
    if hasattr(cls, "__post_init__") or hasattr(cls, "__slots__"):
        raise TypeError(f"{cls.__name__}: one_store_init needs a plain frozen dataclass")
    params: list[str] = []
    defaults: dict[str, Any] = {}
    for f in fields:
        if f.name in ("self", "_setattr") or f.name.startswith("_d_"):
            raise TypeError(f"{cls.__name__}.{f.name}: name clashes with the generated code")
        if f.default_factory is not dataclasses.MISSING or not f.init:
            raise TypeError(f"{cls.__name__}.{f.name}: default factories/init=False unsupported")
        if f.default is dataclasses.MISSING:
            params.append(f.name)
        else:
            defaults[f"_d_{f.name}"] = f.default
            params.append(f"{f.name}=_d_{f.name}")
    store = ", ".join(f"{f.name!r}: {f.name}" for f in fields)
    src = (f"def __init__(self, {', '.join(params)}):\n"
           f"    _setattr(self, '__dict__', {{{store}}})\n")
    namespace: dict[str, Any] = {"_setattr": object.__setattr__, **defaults}
    exec(compile(src, f"<__init__ {cls.__name__}>", "exec"), namespace)  # noqa: S102
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    cls._dataclass_init = cls.__init__  # kept for the test that compares the two
    cls.__init__ = init
    return cls


def internal(default: Any = dataclasses.MISSING) -> Any:
    """A dataclass field that is not part of the JSON document."""
    if default is dataclasses.MISSING:
        return dataclasses.field(metadata={"json": False}, compare=False, repr=False)
    return dataclasses.field(default=default, metadata={"json": False}, compare=False, repr=False)
