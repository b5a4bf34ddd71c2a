"""Figures for the series: neighbour grids and speed/quality trade-off plots."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure


def to_image(vector: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """A flat pixel vector as an image: (H, W) grey, or Chainer's (C, H, W) turned to (H, W, C)."""
    image = np.asarray(vector, dtype=np.float32).reshape(shape)
    if image.ndim == 3:
        image = image.transpose(1, 2, 0)
    return np.clip(image, 0.0, 1.0)


def plot_neighbor_grid(queries: np.ndarray, neighbors: np.ndarray, shape: Sequence[int],
                       titles: Sequence[Sequence[str]] | None = None,
                       wrong: np.ndarray | None = None, path: str | Path | None = None,
                       cell_inches: float = 1.3) -> Figure:
    """One row per query: the query image, then its neighbours' images.

    ``queries`` is (rows, d); ``neighbors`` is (rows, k, d); ``shape`` is
    (28, 28) for MNIST or (3, 32, 32) for CIFAR-10. ``titles`` gives one string
    per cell (rows x (1 + k)); ``wrong`` (rows x k, bool) draws those
    neighbours' titles in red. Saved to ``path`` when given.
    """
    queries, neighbors = np.asarray(queries), np.asarray(neighbors)
    if neighbors.ndim != 3 or len(neighbors) != len(queries):
        raise ValueError(f"neighbors must be (rows, k, dim) with one row per query; got {neighbors.shape}")
    rows, k = neighbors.shape[:2]
    fig, axes = plt.subplots(rows, k + 1, figsize=(cell_inches * (k + 1), cell_inches * rows * 1.1), squeeze=False)
    grey = len(shape) == 2
    for r in range(rows):
        for c in range(k + 1):
            ax = axes[r, c]
            vector = queries[r] if c == 0 else neighbors[r, c - 1]
            ax.imshow(to_image(vector, shape), cmap="gray" if grey else None, vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                for spine in ax.spines.values():
                    spine.set_edgecolor("tab:blue")
                    spine.set_linewidth(2.5)
            if titles is not None:
                red = wrong is not None and c > 0 and bool(wrong[r, c - 1])
                ax.set_title(titles[r][c], fontsize=8, color="tab:red" if red else "black")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100, bbox_inches="tight")
    return fig


def plot_recall_vs_qps(curves: dict[str, tuple[Sequence[float], Sequence[float]]],
                       baseline: dict[str, tuple[float, float]] | None = None,
                       title: str = "", path: str | Path | None = None,
                       ylabel: str = "queries per second, one thread (log)") -> Figure:
    """ann-benchmarks style: recall on x, queries per second (log) on y; up and right is better.

    ``curves`` maps a label to (recalls, qps); ``baseline`` maps a label to one (recall, qps) point.
    """
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, (recalls, qps) in curves.items():
        ax.plot(recalls, qps, marker="o", ms=4, label=label)
    for label, (recall, qps) in (baseline or {}).items():
        ax.scatter([recall], [qps], marker="*", s=180, color="black", zorder=5, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("recall@10")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100, bbox_inches="tight")
    return fig


def plot_build_cost(n_trees: Sequence[int], seconds: Sequence[float], megabytes: Sequence[float],
                    title: str = "", path: str | Path | None = None) -> Figure:
    """Build time and index size against the number of trees, side by side."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    left.plot(n_trees, seconds, marker="o")
    left.set_xlabel("n_trees")
    left.set_ylabel("build time, one thread (s)")
    right.plot(n_trees, megabytes, marker="o", color="tab:orange")
    right.set_xlabel("n_trees")
    right.set_ylabel("index file size (MB)")
    for ax in (left, right):
        ax.grid(True, alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100, bbox_inches="tight")
    return fig


def plot_changes(replaced: Sequence[float], panels: dict[str, dict[str, Sequence[float]]], title: str = "",
                 path: str | Path | None = None) -> Figure:
    """Notebook 09: one panel per quantity (its y label -> {library: values}) against the share of the collection
    replaced so far (x, 0 to 1), a line per library."""
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.8), squeeze=False)
    for ax, (ylabel, lines) in zip(axes[0], panels.items(), strict=True):
        for label, values in lines.items():
            ax.plot([100 * r for r in replaced], values, marker="o", ms=4, label=label)
        ax.set_xlabel("share of the collection replaced (%)")
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100, bbox_inches="tight")
    return fig


def plot_metric_comparison(results: dict[str, tuple[float, float, float]], title: str = "",
                           path: str | Path | None = None) -> Figure:
    """Three bar panels (1-NN accuracy, recall@10, queries per second), one bar per metric.

    ``results`` maps a metric name to (accuracy, recall, qps).
    """
    names = list(results)
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.5))
    panels = (("1-NN accuracy", 0), ("recall@10 vs its own exact search", 1), ("queries per second, one thread", 2))
    for ax, (label, column) in zip(axes, panels, strict=True):
        values = [results[n][column] for n in names]
        bars = ax.bar(names, values, color=[f"C{i}" for i in range(len(names))])
        ax.bar_label(bars, fmt="%.3f" if column < 2 else "%.0f", fontsize=8)
        ax.set_title(label, fontsize=10)
        ax.tick_params(axis="x", rotation=30, labelsize=8)
        if column < 2:
            ax.set_ylim(0, 1.08)
    fig.suptitle(title)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100, bbox_inches="tight")
    return fig


# --------------------------------------------------------------------------- Annoy's trees in 2-D (notebook 01)

def _split(cell: np.ndarray, normal: np.ndarray, offset: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A convex polygon (corners in order) cut by the line normal . x + offset = 0: its part on the negative side,
    its part on the positive side, and the segment where the line crosses it (no rows if it does not)."""
    side = cell @ normal + offset
    negative, positive, crossings = [], [], []
    for p, q, s, t in zip(cell, np.roll(cell, -1, axis=0), side, np.roll(side, -1), strict=True):
        (positive if s >= 0 else negative).append(p)
        if (s >= 0) != (t >= 0):  # this edge crosses the line: the crossing point belongs to both parts
            crossing = p + (q - p) * (s / (s - t))
            negative.append(crossing)
            positive.append(crossing)
            crossings.append(crossing)
    return (np.array(negative).reshape(-1, 2), np.array(positive).reshape(-1, 2),
            np.array(crossings).reshape(-1, 2))


def tree_cells(nodes: np.ndarray, ids: np.ndarray, root: int, n_items: int, box: np.ndarray) -> tuple[list, list]:
    """One tree of a 2-D Annoy index (``nodes``, ``ids`` as notebook 01 reads them from the file), walked from
    ``root``: the split lines, each clipped to its cell of ``box`` (a polygon), and the leaves' item ids."""
    lines, leaves, stack = [], [], [(root, box)]
    while stack:
        i, cell = stack.pop()
        count = nodes["n_descendants"][i]
        if count == 1 and i < n_items:  # an item on its own
            leaves.append(np.array([i]))
        elif count <= ids.shape[1] or len(cell) < 3:
            leaves.append(ids[i, :count].copy())
        else:
            offset = float(nodes["a"][i]) if "a" in nodes.dtype.names else 0.0
            negative, positive, segment = _split(cell, nodes["v"][i].astype(float), offset)
            if len(segment) == 2:
                lines.append(segment)
            stack.append((int(nodes["children"][i][1]), positive))
            stack.append((int(nodes["children"][i][0]), negative))
    return lines, leaves


def plot_annoy_trees(points: np.ndarray, trees: Sequence[tuple[list, list]], titles: Sequence[str],
                     path: str | Path | None = None) -> Figure:
    """One panel per tree: its split lines over the 2-D points, each leaf's points in one colour."""
    fig, axes = plt.subplots(1, len(trees), figsize=(4.2 * len(trees), 4.2), squeeze=False)
    colours = plt.get_cmap("tab20")
    for ax, (lines, leaves), title in zip(axes[0], trees, titles, strict=True):
        for line in lines:
            ax.plot(line[:, 0], line[:, 1], color="0.55", linewidth=0.8)
        for n, leaf in enumerate(leaves):
            ax.scatter(points[leaf, 0], points[leaf, 1], s=9, color=colours(n % 20))
        ax.set_title(title, fontsize=10)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100, bbox_inches="tight")
    return fig


def plot_search_steps(points: np.ndarray, query: np.ndarray, true_ids: np.ndarray, candidates: Sequence[np.ndarray],
                      titles: Sequence[str], radius: float = 1.2, path: str | Path | None = None) -> Figure:
    """One panel per search: the 2-D points within ``radius`` of the query in grey, that search's candidates in
    colour, the query as a star and its true nearest points ringed."""
    fig, axes = plt.subplots(1, len(candidates), figsize=(4.2 * len(candidates), 4.4), squeeze=False)
    for ax, found, title in zip(axes[0], candidates, titles, strict=True):
        ax.scatter(points[:, 0], points[:, 1], s=9, color="0.8")
        ax.scatter(points[found, 0], points[found, 1], s=14, color="tab:blue", label="candidates")
        ax.scatter(points[true_ids, 0], points[true_ids, 1], s=80, facecolors="none", edgecolors="tab:red",
                   linewidths=1.2, label="true 10 nearest")
        ax.scatter([query[0]], [query[1]], s=160, marker="*", color="tab:orange", edgecolors="black", zorder=3,
                   label="query")
        ax.set_title(title, fontsize=9)
        ax.set_xlim(query[0] - radius, query[0] + radius)
        ax.set_ylim(query[1] - radius, query[1] + radius)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0][0].legend(loc="lower left", fontsize=8, framealpha=0.9)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100, bbox_inches="tight")
    return fig
