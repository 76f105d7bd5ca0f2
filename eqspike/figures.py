"""Figures drawn without pyplot, so that library code never switches a user's backend.

A notebook's inline backend, or a GUI backend a user chose, stays as it was: every figure
eqspike writes is a :class:`matplotlib.figure.Figure` of its own, saved to a file (PNG
through the Agg canvas) and never registered with pyplot.
"""

from __future__ import annotations

__all__ = ["subplots"]


def subplots(nrows: int = 1, ncols: int = 1, *, figsize, constrained_layout: bool = False,
             **kwargs):
    """``(figure, axes)`` like :func:`matplotlib.pyplot.subplots`, outside pyplot."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=figsize, constrained_layout=constrained_layout)
    return figure, figure.subplots(nrows, ncols, **kwargs)
