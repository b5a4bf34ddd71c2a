"""Search with your own picture: a trained network's embedding function, an Annoy index of its embeddings, and
the training set's labels, behind one small class.

Annoy stores item ids, not what they stand for: ``ImageSearch`` maps each id back to its training image, label
and class name, and says "nothing similar here" when even the nearest image is farther away than a threshold.
It refuses an index that does not hold this network's embeddings of these training images.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from annoy import AnnoyIndex

from helpers import vectors
from helpers.features import IMAGE_SHAPE

Embed = Callable[[np.ndarray], np.ndarray]
"""Images in Chainer's layout, ``(n, 3, 32, 32)``, to their embeddings ``(n, d)`` (notebook 06's ``embed``)."""

PROBE_ITEMS = 8
"""How many training images are re-embedded to check that an index belongs to a model."""


class IndexModelMismatchError(ValueError):
    """The Annoy index was not built from this model's embeddings of these training images."""


def check_index_matches(annoy_index: AnnoyIndex, embed: Embed, train_images: np.ndarray,
                        tolerance: float = 1e-3) -> None:
    """Raise ``IndexModelMismatchError`` unless item ``i`` of the index is the normalised embedding of training
    image ``i`` (checked on a few evenly spread items)."""
    n_items = annoy_index.get_n_items()
    probe = np.unique(np.linspace(0, len(train_images) - 1, min(PROBE_ITEMS, len(train_images))).astype(int))
    expected = vectors.normalise(embed(np.asarray(train_images[probe]).reshape(-1, *IMAGE_SHAPE)))
    if annoy_index.f != expected.shape[1]:
        raise IndexModelMismatchError(
            f"the index holds {annoy_index.f}-dimensional vectors but this model makes "
            f"{expected.shape[1]}-dimensional embeddings: it was built from other vectors (another model's "
            f"embeddings, or pixels). Build the index from this model's embeddings.")
    if n_items != len(train_images):
        raise IndexModelMismatchError(f"the index holds {n_items:,} items but there are {len(train_images):,} "
                                      "training images: it was built from another image set.")
    stored = np.array([annoy_index.get_item_vector(int(i)) for i in probe], dtype=np.float32)
    worst = float(np.abs(expected - stored).max())
    if worst > tolerance:
        raise IndexModelMismatchError(
            f"the index's items are not this model's embeddings of the training images (they differ by up to "
            f"{worst:.3g}): it was built from another model's embeddings. Rebuild it from this model's embeddings.")


def nothing_similar_threshold(nearest_distances: np.ndarray, quantile: float = 0.99) -> float:
    """A distance beyond which "nothing similar here" is the honest answer: the ``quantile`` of the nearest-
    neighbour distances of real test images (so about 1 % of real test images would be turned away)."""
    nearest_distances = np.asarray(nearest_distances, dtype=np.float64)
    nearest_distances = nearest_distances[np.isfinite(nearest_distances)]
    if nearest_distances.size == 0:
        raise ValueError("no finite distances to set a threshold from")
    if not 0 < quantile <= 1:
        raise ValueError(f"quantile must be in (0, 1]; got {quantile}")
    return float(np.quantile(nearest_distances, quantile))


@dataclass
class Match:
    """One neighbour: Annoy's id, and what it stands for."""

    id: int
    label: int
    name: str
    distance: float


@dataclass
class SearchResult:
    """The neighbours of one picture, nearest first, and whether any is close enough to call similar."""

    matches: list[Match]
    threshold: float

    @property
    def something_similar(self) -> bool:
        """True when the nearest match is within the threshold."""
        return bool(self.matches) and self.matches[0].distance <= self.threshold

    def summary(self) -> str:
        """One line: what was found, or that nothing similar was."""
        names = ", ".join(m.name for m in self.matches)
        if not self.something_similar:
            return (f"nothing similar here: the nearest image is at distance {self.matches[0].distance:.3f}, "
                    f"beyond the threshold {self.threshold:.3f} (it would have been: {names})")
        return f"nearest first: {names} (distances {self.matches[0].distance:.3f} … {self.matches[-1].distance:.3f})"


class ImageSearch:
    """Similar-image search over the training images: a network's ``embed`` function and an angular index of the
    normalised embeddings of the training images."""

    def __init__(self, embed: Embed, annoy_index: AnnoyIndex, train_images: np.ndarray,
                 train_labels: np.ndarray, class_names: Sequence[str], threshold: float,
                 search_k: int = -1) -> None:
        check_index_matches(annoy_index, embed, train_images)
        if len(train_labels) != len(train_images):
            raise ValueError(f"{len(train_images):,} training images but {len(train_labels):,} labels")
        self.embed, self.index = embed, annoy_index
        self.train_images, self.train_labels = train_images, np.asarray(train_labels)
        self.class_names, self.threshold, self.search_k = list(class_names), float(threshold), search_k

    def search(self, image: np.ndarray, k: int = 5) -> SearchResult:
        """The ``k`` training images nearest to one ``(3, 32, 32)`` image (e.g. from ``images.load_image``)."""
        image = np.asarray(image, dtype=np.float32)
        if image.shape != IMAGE_SHAPE:
            raise ValueError(f"expected one image of shape {IMAGE_SHAPE}; got {image.shape} "
                             "(images.load_image reads a file in this shape)")
        query = vectors.normalise(self.embed(image[None]))[0]
        ids, distances = self.index.get_nns_by_vector(query.tolist(), k, search_k=self.search_k,
                                                      include_distances=True)
        labels = self.train_labels[ids]
        return SearchResult([Match(int(i), int(lab), self.class_names[lab], float(d))
                             for i, lab, d in zip(ids, labels, distances, strict=True)], self.threshold)
