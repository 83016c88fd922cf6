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
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import textwrap
import types
import typing
from typing import Any, TypeVar

T = TypeVar("T")


def field_docs(cls) -> dict[str, str]:
    """``{field: first line of the string literal under it}`` from the class source."""
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
            docs[node.target.id] = nxt.value.value.strip().splitlines()[0]
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


def add_dataclass_args(parser: argparse.ArgumentParser, cls, skip: tuple[str, ...] = ()):
    """Add ``--field-name`` for every field of dataclass ``cls`` (defaults from ``cls``)."""
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    group = parser.add_argument_group(f"{cls.__name__} fields")
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        tp, seq = _scalar_type(hints[f.name])
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        flag = "--" + f.name.replace("_", "-")
        kw = {"default": default, "dest": f.name, "help": docs.get(f.name, "")}
        if tp is bool:
            group.add_argument(flag, action=argparse.BooleanOptionalAction, **kw)
        else:
            group.add_argument(flag, type=tp, nargs="+" if seq else None, **kw)


def from_dict(cls: type[T], values: dict[str, Any], strict: bool = True) -> T:
    """Build ``cls`` from a mapping (a Tune trial config or ``vars(args)``).

    Keys that are not fields raise ValueError when ``strict``, else are ignored; lists
    become tuples for tuple-typed fields.
    """
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if strict and unknown:
        raise ValueError(f"unknown {cls.__name__} fields {unknown}; known: {sorted(names)}")
    hints = typing.get_type_hints(cls)
    kw = {}
    for k, v in values.items():
        if k in names:
            is_tuple = typing.get_origin(_strip_optional(hints[k])) is tuple
            kw[k] = tuple(v) if is_tuple and isinstance(v, list) else v
    return cls(**kw)


def _strip_optional(tp):
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0]
    return tp


def require_unique(name: str, values) -> None:
    """Raise ValueError naming ``name`` (a flag or field) if ``values`` repeats a value: a
    repeated grid value would run identical trials and count their rows twice."""
    seen: list = []
    repeated = [v for v in values if v in seen or seen.append(v)]
    if repeated:
        raise ValueError(f"{name} must not repeat a value; {repeated!r} repeated in "
                         f"{list(values)!r}")
