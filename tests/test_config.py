"""Dataclass configs: CLI flags from fields, Tune overrides by name."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pytest

from imm_ray.config import add_dataclass_args, check_number, field_docs, from_dict


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
    share: float = 0.5
    """Share of the rows (50%) kept for
    training, wrapped over two lines.

    A second paragraph that is not help."""


def test_cli_flags_come_from_fields_with_docstring_help():
    p = argparse.ArgumentParser()
    add_dataclass_args(p, Example)
    args = p.parse_args(["--n", "5", "--ratios", "0.1", "0.2", "--tied", "--data-dir", "/d"])
    assert from_dict(Example, vars(args)) == Example(5, (0.1, 0.2), True, "/d")
    assert from_dict(Example, vars(p.parse_args([]))) == Example()
    assert "Training set size." in p.format_help()
    assert field_docs(Example)["data_dir"] == "Where the data lives."
    help_text = " ".join(p.format_help().split())
    assert "Share of the rows (50%) kept for training, wrapped over two lines." in help_text
    assert "second paragraph" not in help_text


def test_from_dict_overrides_by_name_and_rejects_unknown_fields():
    assert from_dict(Example, {"n": 9, "ratios": [0.3]}) == Example(n=9, ratios=(0.3,))
    with pytest.raises(ValueError, match=r"unknown Example fields \['lr'\]"):
        from_dict(Example, {"lr": 1.0})
    assert from_dict(Example, {"lr": 1.0}, strict=False) == Example()


def test_from_dict_checks_literals_paths_and_bools():
    @dataclass
    class Typed:
        mode: Literal["a", "b"] = "a"
        path: str = ""
        flag: bool = False
        sizes: tuple[int, ...] | None = None

    got = from_dict(Typed, {"mode": "b", "path": Path("/x"), "flag": np.bool_(True),
                            "sizes": [1, np.int64(2)]})
    assert got == Typed("b", "/x", True, (1, 2)) and type(got.flag) is bool
    with pytest.raises(ValueError, match=r"Typed field 'mode' \(--mode\) must be one of"):
        from_dict(Typed, {"mode": "c"})
    with pytest.raises(ValueError, match=r"Typed field 'flag' \(--flag\) must be a bool, got int"):
        from_dict(Typed, {"flag": 1})
    with pytest.raises(ValueError, match=r"Typed field 'sizes' \(--sizes\) must be a list"):
        from_dict(Typed, {"sizes": "12"})


def test_check_number_names_the_field_and_stores_the_plain_value():

    cfg = Example(n=np.int64(4))
    check_number(cfg, "n", low=1, integer=True)
    assert type(cfg.n) is int
    with pytest.raises(ValueError, match=r"Example field 'n' \(--n\) must be an integer >= 5"):
        check_number(cfg, "n", low=5, integer=True)
