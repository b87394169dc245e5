"""Plotting helpers for attention weights, shared by the lecture notebooks.

All functions take weights as a torch tensor or a numpy array and draw with matplotlib. They
never call ``plt.show()``: the notebook decides when a figure is finished.

Convention (as everywhere in the kit): rows are queries, columns are keys, so
``weights[i, j]`` is how much query ``i`` attends to key ``j`` and each row sums to 1.
"""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np


def _to_numpy(weights) -> np.ndarray:
    """A 2-D or 3-D float numpy copy of a tensor / array (detached, on the CPU)."""
    if hasattr(weights, "detach"):
        weights = weights.detach().cpu().numpy()
    return np.asarray(weights, dtype=float)


def plot_attention(weights, query_labels: Sequence[str] | None = None,
                   key_labels: Sequence[str] | None = None, ax=None, title: str | None = None,
                   annotate: bool | None = None, cmap: str = "Blues", vmin: float | None = 0.0,
                   vmax: float | None = None, colorbar: bool = True, fmt: str = ".2f"):
    """Draw one attention matrix as a heat map; returns the matplotlib ``Axes``.

    Parameters
    ----------
    weights : (Lq, Lk) tensor or array
        Row ``i`` holds the weights of query ``i`` over the keys.
    query_labels, key_labels : sequences of str, optional
        Tick labels for the rows (queries, y axis) and columns (keys, x axis), e.g. the tokens.
    ax : matplotlib Axes, optional
        Where to draw; a new figure is made when omitted.
    title : str, optional
    annotate : bool, optional
        Write each weight in its cell. Default: only when the matrix is at most 12 x 12.
    cmap, vmin, vmax :
        Colour map and colour range; ``vmin=0`` by default because weights are >= 0. Pass
        ``vmin=None`` for signed matrices such as raw scores.
    colorbar : bool
        Add a colour bar beside the axes.
    fmt : str
        Number format of the annotations.
    """
    w = _to_numpy(weights)
    if w.ndim != 2:
        raise ValueError(f"plot_attention expects a 2-D matrix, got shape {w.shape}")
    if ax is None:
        lq, lk = w.shape
        _, ax = plt.subplots(figsize=(min(1.0 + 0.55 * lk, 12), min(0.8 + 0.45 * lq, 10)))
    im = ax.imshow(w, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    if key_labels is not None:
        ax.set_xticks(range(len(key_labels)))
        ax.set_xticklabels(key_labels, rotation=60, ha="right")
    if query_labels is not None:
        ax.set_yticks(range(len(query_labels)))
        ax.set_yticklabels(query_labels)
    ax.set_xlabel("key")
    ax.set_ylabel("query")
    if title:
        ax.set_title(title)
    if annotate is None:
        annotate = max(w.shape) <= 12
    if annotate:
        lo, hi = im.get_clim()
        mid = lo + 0.6 * (hi - lo)
        for i in range(w.shape[0]):
            for j in range(w.shape[1]):
                ax.text(j, i, format(w[i, j], fmt), ha="center", va="center", fontsize=7,
                        color="white" if w[i, j] > mid else "black")
    if colorbar:
        ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    return ax


def plot_attention_heads(weights, query_labels: Sequence[str] | None = None,
                         key_labels: Sequence[str] | None = None, titles: Sequence[str] | None = None,
                         ncols: int | None = None, panel_size: float = 2.6,
                         suptitle: str | None = None, annotate: bool = False, cmap: str = "Blues"):
    """Small multiples: one heat map per head; returns the ``Figure``.

    Parameters
    ----------
    weights : (H, Lq, Lk) tensor or array
        The attention weights of each head (e.g. one batch element of ``(B, H, Lq, Lk)``).
    query_labels, key_labels : sequences of str, optional
        Tick labels; the query labels are only drawn on the first column of panels.
    titles : sequence of str, optional
        One title per head; default ``"head 0"``, ``"head 1"``, ...
    ncols : int, optional
        Panels per row (default: all heads in one row, at most 4).
    panel_size : float
        Width and height of one panel in inches.
    suptitle : str, optional
        A title over all panels.
    annotate : bool
        Write the weights in the cells (readable only for short sequences).
    """
    w = _to_numpy(weights)
    if w.ndim != 3:
        raise ValueError(f"plot_attention_heads expects (H, Lq, Lk), got shape {w.shape}")
    n_heads = w.shape[0]
    ncols = ncols or min(n_heads, 4)
    nrows = -(-n_heads // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_size * ncols + 0.6, panel_size * nrows + 0.4),
                             squeeze=False)
    vmax = float(w.max())
    for h in range(nrows * ncols):
        ax = axes[h // ncols][h % ncols]
        if h >= n_heads:
            ax.axis("off")
            continue
        plot_attention(w[h], query_labels if h % ncols == 0 else None, key_labels, ax=ax,
                       title=titles[h] if titles else f"head {h}", annotate=annotate, cmap=cmap,
                       vmax=vmax, colorbar=False)
        if h % ncols:
            ax.set_yticks([])
            ax.set_ylabel("")
        if key_labels is not None:
            ax.tick_params(axis="x", labelsize=7)
        if query_labels is not None:
            ax.tick_params(axis="y", labelsize=7)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def plot_weight_bars(weights, key_labels: Sequence[str], ax=None, title: str | None = None,
                     highlight: int | None = None, ylim: tuple[float, float] | None = (0.0, 1.0)):
    """Bar chart of one query's weights over the keys; returns the ``Axes``.

    Parameters
    ----------
    weights : (Lk,) tensor or array
    key_labels : sequence of str
    ax : matplotlib Axes, optional
    title : str, optional
    highlight : int, optional
        Index of a key to draw in a different colour (e.g. the query's own position).
    ylim : (float, float) or None
        Fixed y range so that bars are comparable between calls (e.g. in a widget).
    """
    w = _to_numpy(weights).reshape(-1)
    if ax is None:
        _, ax = plt.subplots(figsize=(min(1.0 + 0.5 * len(w), 12), 3))
    colors = ["tab:blue"] * len(w)
    if highlight is not None:
        colors[highlight] = "tab:orange"
    ax.bar(range(len(w)), w, color=colors)
    ax.set_xticks(range(len(key_labels)))
    ax.set_xticklabels(key_labels, rotation=60, ha="right")
    ax.set_ylabel("weight")
    if ylim is not None:
        ax.set_ylim(*ylim)
    if title:
        ax.set_title(title)
    return ax
