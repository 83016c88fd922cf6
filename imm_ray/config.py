"""Experiment configs: one dataclass per experiment, each field with a one-line docstring.

The same dataclass is settable from the command line (:func:`add_dataclass_args`, help
text taken from the field docstrings) and overridable by name from a Tune trial's
``config`` dict (:func:`from_dict`), so a sweep's ``param_space`` keys are field names::

    @dataclass
    class ToyConfig:
        n: int = 32
        \"\"\"Training set size.\"\"\"

    parser = argparse.ArgumentParser(); add_dataclass_args(parser, ToyConfig)
    cfg = from_dict(ToyConfig, trial_config)   # unknown keys raise ValueError

:func:`from_dict` also checks every value against its field's annotation (``int``,
``float``, ``str``, ``bool``, ``Literal[...]``, ``X | None``, ``tuple[X, ...]``), with the
scalar rules of :mod:`imm_ray.checks`: numpy scalars and 0-d tensors are accepted and
turned into plain Python values (an ``int`` is fine for a ``float`` field), anything else
raises ValueError naming the field, its flag and the type received. Ranges are each
dataclass's own ``__post_init__`` business; :func:`check_number` is the helper for them.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import os
import textwrap
import types
import typing
from typing import Any, TypeVar

from imm_ray.checks import as_real, check_real, is_bool, require_unique  # noqa: F401 (re-export)

T = TypeVar("T")


def field_docs(cls) -> dict[str, str]:
    """``{field: first paragraph of the string literal under it}`` from the class source
    (lines joined, ``%`` escaped for argparse): a docstring wrapped over several lines is
    one help sentence, not its first line cut mid-sentence."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError):
        return {}
    body = tree.body[0].body
    docs = {}
    for node, nxt in zip(body, body[1:], strict=False):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant)
                and isinstance(nxt.value.value, str)):
            paragraph = nxt.value.value.strip().split("\n\n")[0]
            docs[node.target.id] = " ".join(paragraph.split()).replace("%", "%%")
    return docs


def _scalar_type(tp) -> tuple[Any, bool]:
    """``(element type, is_sequence)`` for int/float/str/bool, Optional[...] and tuples."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _scalar_type(args[0])
    if origin in (tuple, list):
        return typing.get_args(tp)[0], True
    return tp, False


def add_dataclass_args(parser: argparse.ArgumentParser, cls, skip: tuple[str, ...] = (),
                       choices: dict[str, typing.Sequence] | None = None):
    """Add ``--field-name`` for every field of dataclass ``cls`` (defaults from ``cls``).

    A field's allowed values (``choices[field]``, or a ``Literal[...]`` annotation) are
    listed in its ``--help`` and checked by argparse (each value of a list flag)."""
    hints = typing.get_type_hints(cls)
    choices = dict(choices or {})
    docs = field_docs(cls)
    group = parser.add_argument_group(f"{cls.__name__} fields")
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        tp, seq = _scalar_type(hints[f.name])
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        flag = "--" + f.name.replace("_", "-")
        kw = {"default": default, "dest": f.name, "help": docs.get(f.name, "")}
        allowed = choices.get(f.name) or (typing.get_args(tp) if typing.get_origin(tp)
                                          is typing.Literal else None)
        if allowed:
            kw["choices"], kw["metavar"] = list(allowed), f.name.upper()
            tp = type(next(iter(allowed)))
        if tp is bool:
            group.add_argument(flag, action=argparse.BooleanOptionalAction, **kw)
        else:
            group.add_argument(flag, type=tp, nargs="+" if seq else None, **kw)


def from_dict(cls: type[T], values: dict[str, Any], strict: bool = True) -> T:
    """Build ``cls`` from a mapping (a Tune trial config or ``vars(args)``).

    Keys that are not fields raise ValueError when ``strict``, else are ignored; every
    value is checked and normalised against its field's annotation (:func:`coerce`), so
    lists become tuples for tuple-typed fields and ``np.float32(0.5)`` becomes ``0.5``.
    """
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if strict and unknown:
        raise ValueError(f"unknown {cls.__name__} fields {unknown}; known: {sorted(names)}")
    try:
        hints = typing.get_type_hints(cls)
    except (NameError, TypeError):  # annotations naming what the class's module lacks
        hints = {}
    kw = {k: coerce(hints.get(k, Any), v, field_label(cls, k)) for k, v in values.items()
          if k in names}
    return cls(**kw)


def field_label(cls, name: str) -> str:
    """``"ToyConfig field 'l2' (--l2)"``: how errors name a config field."""
    return f"{cls.__name__} field {name!r} (--{name.replace('_', '-')})"


def coerce(tp, value, label: str):
    """``value`` checked against the annotation ``tp`` and normalised (see module doc).

    Annotations other than the scalar ones, their ``| None`` and ``tuple[X, ...]`` forms
    (e.g. ``dict``, ``Any``) pass the value through unchanged.
    """
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if value is None and len(rest) < len(args):
            return None
        return coerce(rest[0], value, label) if len(rest) == 1 else value
    if origin in (tuple, list) and (len(args) == 1 or (len(args) == 2 and args[1] is ...)):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise ValueError(f"{label} must be a list of values, got "
                             f"{type(value).__name__} {value!r}")
        items = [coerce(args[0], v, f"{label}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is typing.Literal:
        if value not in args:
            raise ValueError(f"{label} must be one of {list(args)}, got {value!r}")
        return value
    return _coerce_scalar(tp, value, label)


def _coerce_scalar(tp, value, label: str):
    if tp is bool:
        if is_bool(value):
            return bool(value)
        raise ValueError(f"{label} must be a bool, got {type(value).__name__} {value!r}")
    if tp is int:
        return as_real(value, label, integer=True)
    if tp is float:
        return as_real(value, label)
    if tp is str:
        if isinstance(value, (str, os.PathLike)):
            return os.fspath(value)
        raise ValueError(f"{label} must be a string, got {type(value).__name__} {value!r}")
    return value


def check_number(cfg, name: str, **bounds) -> None:
    """``check_real`` for a config field (``bounds`` as in :func:`imm_ray.checks.check_real`),
    naming the field and its flag; stores the normalised value back. For ``__post_init__``::

        check_number(self, "l2", low=0.0)
        check_number(self, "num_bins", low=1, integer=True)
    """
    value = check_real(getattr(cfg, name), field_label(type(cfg), name), **bounds)
    object.__setattr__(cfg, name, value)  # frozen dataclasses too
