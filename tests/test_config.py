"""Dataclass configs: CLI flags from fields, Tune overrides by name."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import pytest

from imm_ray.config import add_dataclass_args, field_docs, from_dict


@dataclass
class Example:
    n: int = 3
    """Training set size."""
    ratios: tuple[float, ...] = (0.0, 0.5)
    """Ratios to sweep."""
    tied: bool = False
    """Tie embeddings."""
    data_dir: str | None = None
    """Where the data lives."""


def test_cli_flags_come_from_fields_with_docstring_help():
    p = argparse.ArgumentParser()
    add_dataclass_args(p, Example)
    args = p.parse_args(["--n", "5", "--ratios", "0.1", "0.2", "--tied", "--data-dir", "/d"])
    assert from_dict(Example, vars(args)) == Example(5, (0.1, 0.2), True, "/d")
    assert from_dict(Example, vars(p.parse_args([]))) == Example()
    assert "Training set size." in p.format_help()
    assert field_docs(Example)["data_dir"] == "Where the data lives."


def test_from_dict_overrides_by_name_and_rejects_unknown_fields():
    assert from_dict(Example, {"n": 9, "ratios": [0.3]}) == Example(n=9, ratios=(0.3,))
    with pytest.raises(ValueError, match=r"unknown Example fields \['lr'\]"):
        from_dict(Example, {"lr": 1.0})
    assert from_dict(Example, {"lr": 1.0}, strict=False) == Example()
