"""Parse (YAML) mappings into frozen dataclasses, and merge and dump them: the machinery behind
:mod:`saeprobe.core.settings` (which holds the dataclasses themselves).

:func:`parse` builds a dataclass from a mapping recursively: an unknown key at any depth is one line
naming the section, the key and the close match (``p2.threshhold: unknown key (did you mean
'threshold'?)``); a value of the wrong type is one line too. :func:`merge` merges an override
mapping into a section key by key (nested sections too) instead of replacing it; :func:`as_dict`
turns a settings object back into plain mappings.
"""
from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from typing import Any, Literal, Union

__all__ = ["SettingsError", "parse", "merge", "as_dict"]


class SettingsError(ValueError):
    """A profile value that cannot be used; the message is one line naming the key."""


def _hint(bad: str, valid) -> str:
    close = difflib.get_close_matches(bad, list(valid), n=1)
    return f" (did you mean {close[0]!r}?)" if close else f"; valid keys: {', '.join(sorted(valid))}"


def _hints(cls) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _is_dataclass_type(t) -> bool:
    return isinstance(t, type) and dataclasses.is_dataclass(t)


def _coerce(value: Any, typ: Any, where: str) -> Any:
    """``value`` checked against the annotation ``typ`` (lists become tuples, ints may be floats)."""
    origin = typing.get_origin(typ)
    args = typing.get_args(typ)
    if typ is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for alt in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, alt, where)
            except SettingsError as err:
                errors.append(str(err))
        raise SettingsError(errors[-1] if errors else f"{where}: must be empty (null)")
    if origin is Literal:
        if value not in args:
            raise SettingsError(f"{where}: {value!r} is not one of {', '.join(map(repr, args))}"
                                + (_hint(str(value), [str(a) for a in args]).replace("; valid keys", "; valid")
                                   if isinstance(value, str) else ""))
        return value
    if _is_dataclass_type(typ):
        return parse(typ, value, where)
    if origin is tuple:
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise SettingsError(f"{where}: expected a list, got {value!r}")
        item = args[0] if args else Any
        return tuple(_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise SettingsError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if typ is bool:
        if not isinstance(value, bool):
            raise SettingsError(f"{where}: expected true or false, got {value!r}")
        return value
    if typ is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SettingsError(f"{where}: expected an integer, got {value!r}")
        return value
    if typ is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SettingsError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if typ is str:
        if not isinstance(value, str):
            raise SettingsError(f"{where}: expected a string, got {value!r}")
        return value
    if typ is type(None):
        if value is not None:
            raise SettingsError(f"{where}: must be null")
        return None
    return value


def parse(cls, raw: Any, where: str):
    """An instance of dataclass ``cls`` from mapping ``raw`` (None: all defaults; an instance: as is).

    Raises :class:`SettingsError` (a ``ValueError``) with a one-line message naming ``where.key``.
    """
    if isinstance(raw, cls):
        return raw
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise SettingsError(f"{where}: expected a mapping of settings, got {raw!r}")
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in fields:
            raise SettingsError(f"{where}.{key}: unknown key{_hint(str(key), fields)}")
    missing = [n for n, f in fields.items() if n not in raw and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        raise SettingsError(f"{where}: {missing[0]!r} is required")
    kwargs = {k: _coerce(v, hints[k], f"{where}.{k}") for k, v in raw.items()}
    try:
        return cls(**kwargs)
    except SettingsError as err:
        raise SettingsError(f"{where}: {err}") from None


def as_dict(obj) -> Any:
    """Plain (YAML/JSON-safe) form of a settings object: dataclasses -> dicts, tuples -> lists."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: as_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [as_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: as_dict(v) for k, v in obj.items()}
    return obj


def merge(base: Any, override: Any) -> Any:
    """``override`` merged into ``base`` key by key (mappings recursively; anything else replaces)."""
    if dataclasses.is_dataclass(override) and not isinstance(override, type):
        return override
    if dataclasses.is_dataclass(base) and not isinstance(base, type):
        base = {f.name: getattr(base, f.name) for f in dataclasses.fields(base)}
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for k, v in override.items():
            out[k] = merge(out[k], v) if k in out and isinstance(v, dict) else v
        return out
    return override
