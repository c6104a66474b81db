"""Typed Numba compile options, shared by the kernels (``njit(**_JIT)`` then type-checks
against Numba's own signature)."""

from __future__ import annotations

from typing import Literal, TypedDict

__all__ = ["JitOptions"]


class JitOptions(TypedDict, total=False):
    cache: bool
    nogil: bool
    fastmath: bool
    parallel: bool
    error_model: Literal["python", "numpy"]
    inline: Literal["never", "always"]
