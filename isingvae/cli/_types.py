"""Argument types shared by the commands: comma-separated lists."""

from __future__ import annotations

import argparse

__all__ = ["float_list", "int_list"]


def _parse(text: str, kind, what: str) -> tuple:
    try:
        return tuple(kind(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated {what}, got {text!r}") from None


def int_list(text: str) -> tuple[int, ...]:
    """``"16,32"`` -> ``(16, 32)``."""
    return _parse(text, int, "integers")


def float_list(text: str) -> tuple[float, ...]:
    """``"1.5,2.269"`` -> ``(1.5, 2.269)``."""
    return _parse(text, float, "numbers")
