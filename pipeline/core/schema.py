"""Frozen dataclasses built from loaded YAML, refusing what does not fit with one line that names the
key: an unknown key (with the closest known one), a missing one, a value of the wrong type (with how
to write a number YAML read as text) or outside its rule. `config` describes params.yaml with it."""

import dataclasses
import difflib
import types
import typing
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from pipeline.core.errors import PipelineError


def require(condition: bool, key: str, rule: str) -> None:
    if not condition:
        raise PipelineError(f"params.yaml: {key}: {rule}")


def did_you_mean(word: object, choices: Iterable[str]) -> str:
    """`; did you mean 'x'?` for the choice closest to a mistyped `word`, or "" when none is close."""
    close = difflib.get_close_matches(str(word), list(choices), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def require_choice(value: str, choices: tuple[str, ...], key: str) -> None:
    require(value in choices, key, f"must be one of {', '.join(choices)}{did_you_mean(value, choices)}")


def _convert(value: Any, hint: Any, key: str) -> Any:
    """Check `value` against a type hint and convert it (lists to tuples, dicts to dataclasses)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in typing.get_args(hint):
            return None
        (inner,) = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return _convert(value, inner, key)
    if dataclasses.is_dataclass(hint):
        return build(hint, value, key)
    if origin is dict:
        _expect(isinstance(value, dict), key, "a mapping", value)
        for name in value:
            _expect(isinstance(name, str), f"{key}.{name}", "a name as the key", name)
        _, value_hint = typing.get_args(hint)
        return {name: _convert(item, value_hint, f"{key}.{name}") for name, item in value.items()}
    if origin is tuple:
        _expect(isinstance(value, list), key, "a list", value)
        (item_hint, _) = typing.get_args(hint)
        return tuple(_convert(item, item_hint, f"{key}[{i}]") for i, item in enumerate(value))
    note = _number_note(value) if hint in (int, float) else ""
    if hint is float:
        _expect(isinstance(value, (int, float)) and not isinstance(value, bool), key, "a number", value, note)
        return float(value)
    _expect(isinstance(value, hint) and not (hint is int and isinstance(value, bool)), key, hint.__name__, value, note)
    return value


def _expect(condition: bool, key: str, expected: str, value: Any, note: str = "") -> None:
    if not condition:
        raise PipelineError(f"params.yaml: {key}: expected {expected}, got {shown(value)}{note}")


def shown(value: Any) -> str:
    """The value as YAML gave it, cut short so the error stays one readable line."""
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def _number_note(value: Any) -> str:
    """How to write a number YAML read as text: PyYAML reads YAML 1.1, where `1e-3` is a string
    (a float needs a dot and a signed exponent), and a quoted number is a string anyway."""
    try:
        number = Decimal(value) if isinstance(value, str) else None
    except InvalidOperation:
        return ""
    written = f"{number:f}" if number is not None and number.is_finite() else ""
    return f" (YAML reads it as text; write {written})" if 0 < len(written) <= 24 else ""


def required_keys(cls: type) -> list[str]:
    """The fields of dataclass `cls` without a default: keys params.yaml must give."""
    return [
        field.name
        for field in dataclasses.fields(cls)
        if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
    ]


def build(cls: type, mapping: Any, key: str) -> Any:
    """Build dataclass `cls` from a mapping, refusing unknown and missing keys by name."""
    where = f"{key}." if key else ""
    _expect(isinstance(mapping, dict), key, "a mapping", mapping)
    fields = {field.name: field for field in dataclasses.fields(cls)}
    unknown = [name for name in mapping if name not in fields]
    if unknown:
        hint = did_you_mean(unknown[0], fields)
        raise PipelineError(f"params.yaml: {where}{unknown[0]}: unknown key{hint} (known: {', '.join(fields)})")
    hints = typing.get_type_hints(cls)
    required = required_keys(cls)
    values = {}
    for name in fields:
        if name not in mapping and name in required:
            raise PipelineError(f"params.yaml: {where}{name}: missing")
        if name in mapping:
            values[name] = _convert(mapping[name], hints[name], f"{where}{name}")
    return cls(**values)


def _yaml_problem(error: yaml.YAMLError) -> str:
    """PyYAML's complaint and where, without its multi-line excerpt of the file."""
    problem = getattr(error, "problem", None) or str(error)
    mark = getattr(error, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    return " ".join(f"{problem}{where}".split())


def read_yaml(path: Path) -> Any:
    """A YAML file's contents; an unreadable file or invalid YAML is a one-line PipelineError."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise PipelineError(f"cannot read {path}: {error.strerror}") from error
    except UnicodeDecodeError as error:
        raise PipelineError(f"cannot read {path}: not UTF-8 text (byte {error.start})") from error
    except yaml.YAMLError as error:
        raise PipelineError(f"{path.name} is not valid YAML: {_yaml_problem(error)}") from error
