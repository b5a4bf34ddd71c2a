"""What notebook 06's network needs besides the lesson: its trained weights and its embeddings, cached.

The network, its loss, optimizer, training loop and embedding step are notebook 06's own code. Here:

- ``load_or_train``: reuse weights trained on the same data with the same settings and the same layers (cached as
  ``<name>.npz`` under ``helpers.cache``'s convention), or train with the notebook's function and save them;
- ``embeddings_cached``: embeddings of a set of images, cached and keyed by the weights and the images;
- ``saved_embeddings``: what notebook 07 reads: the embeddings notebook 06 saved for these images;
- ``save_model`` / ``load_model``: the trained network *with its code*, for another process to use without the
  notebook that defines it (a Dask worker, a script).
"""

from __future__ import annotations

import inspect
import pickle
import warnings
from collections.abc import Callable
from pathlib import Path

import cloudpickle
import numpy as np

from helpers import cache

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # pkg_resources / numpy.distutils deprecation noise at import
    import chainer

# Chainer makes the metaclass of every link when it is imported (chainer.utils.enable_final) and leaves it
# without a name in its module, so cloudpickle would copy it by value, and a class rebuilt on that copy clashes
# with Chainer's own ("metaclass conflict"). Named here, it is pickled by reference: save_model and load_model
# (this module is imported before any model is unpickled) work across processes.
chainer.utils.meta.base_metaclass = type(chainer.Link)

IMAGE_SHAPE = (3, 32, 32)
"""One image as Chainer's ``get_cifar10()`` gives it: channels first."""


def state(model: chainer.Link) -> dict[str, np.ndarray]:
    """Every array the model computes with (weights, batch-norm statistics, persistent values), by name."""
    target: dict[str, np.ndarray] = {}
    chainer.serializers.DictionarySerializer(target).save(model)
    return {name: np.asarray(value) for name, value in target.items()}


def layout(model: chainer.Link) -> dict[str, list[int]]:
    """The model's arrays' names and shapes: two models with the same layout can hold each other's weights."""
    return _layout_of(state(model))


def _layout_of(arrays: dict[str, np.ndarray]) -> dict[str, list[int]]:
    return {name: list(value.shape) for name, value in sorted(arrays.items())}


def weights_key(model: chainer.Link) -> str:
    """A short hash of everything the model computes with (its state is read once)."""
    arrays = state(model)
    return cache.content_key(*[value for _, value in sorted(arrays.items())], params=_layout_of(arrays))


def code_key(*code: object) -> str:
    """A short hash of the source of functions, classes (every function a class defines) and modules (the whole
    file): with it in the fingerprint, a change to the network's or the training loop's code means new weights,
    not stale ones."""
    sources = []
    for thing in code:
        if inspect.ismodule(thing):
            sources.append(inspect.getsource(thing))
            continue
        functions = [f for f in vars(thing).values() if inspect.isfunction(f)] if inspect.isclass(thing) else [thing]
        sources += [inspect.getsource(f) for f in functions]
    return cache.content_key(params=sources)


def load_or_train(model: chainer.Link, train: Callable[[chainer.Link], list[str]], fingerprint: dict, name: str,
                  log: Callable[[str], None] = print) -> tuple[list[str], bool]:
    """Fill ``model`` with cached weights if they were trained from ``fingerprint`` into the same layers (from the
    cache, or else from a room kit's); else run ``train(model)`` (it trains in place and returns its log lines)
    and save the weights and the log.

    Returns (the training log, reused). ``fingerprint`` must name everything the weights depend on besides the
    layers: the data's content key and every training setting. A reused model's log is printed again.
    """
    path = cache.cache_file(f"{name}.npz")
    wanted = {**fingerprint, "layout": layout(model)}

    def load(p: Path) -> list[str]:
        with np.load(p) as saved:
            chainer.serializers.NpzDeserializer(saved).load(model)
            return [str(line) for line in saved["training_log"]]

    def write(lines: list[str], tmp: Path) -> None:
        with open(tmp, "wb") as f:  # a file object: np.savez would add ".npz" to a temporary file's name
            np.savez(f, training_log=np.array(lines, dtype=str), **state(model))

    lines, reused = cache.load_or_make(path, wanted, load, make=lambda: list(train(model)), write=write, log=log,
                                       needed=lambda _: sum(a.nbytes for a in state(model).values()),
                                       from_room_kit=True)
    if reused:
        log(f"reused the weights in the cache ({path.name}); they were trained like this:")
        for line in lines:
            log("  " + line)
    return lines, reused


def embeddings_cached(name: str, model: chainer.Link, images: np.ndarray,
                      embed: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``embed(images)``, saved as ``<name>.npy`` and reused while the weights and the images are the same."""
    wanted = {"model_blake2b": weights_key(model), "images_blake2b": cache.content_key(np.asarray(images))}
    return _embeddings_file(name, wanted, len(images), make=lambda: embed(images))


def saved_embeddings(name: str, images: np.ndarray) -> np.ndarray:
    """The embeddings notebook 06 saved as ``<name>.npy`` for exactly these ``images`` (by any trained network).

    Raises ``FileNotFoundError`` saying to run notebook 06 first if there are none (or they are of other images,
    or the file fails the cache's checks).
    """
    path = cache.cache_file(f"{name}.npy")
    saved = cache.read_fingerprint(path) or {}
    if saved.get("images_blake2b") != cache.content_key(np.asarray(images)):
        raise FileNotFoundError(f"no embeddings of these images in the cache ({path.name}): run notebook 06 first; "
                                "it trains the network and saves them")

    def refuse() -> np.ndarray:
        raise FileNotFoundError(f"{path.name} failed the cache's checks: run notebook 06 again to remake it")

    return _embeddings_file(name, saved, len(images), make=refuse)


def _embeddings_file(name: str, wanted: dict, n_images: int, make: Callable[[], np.ndarray]) -> np.ndarray:
    def load(path: Path) -> np.ndarray:
        vectors = np.load(path)
        if vectors.ndim != 2 or len(vectors) != n_images:
            raise ValueError(f"holds an array of shape {vectors.shape}, not {n_images} rows")
        return vectors

    def write(vectors: np.ndarray, tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.save(f, np.asarray(vectors, dtype=np.float32))

    vectors, _ = cache.load_or_make(cache.cache_file(f"{name}.npy"), wanted, load, make, write,
                                    needed=lambda v: v.nbytes, from_room_kit=True)
    return vectors


def save_model(model: chainer.Link, name: str) -> Path:
    """Save ``model`` with the code of its classes as ``<name>-model.pkl``, keyed by its weights; returns the path.

    cloudpickle stores classes defined in a notebook by value (their code travels with the weights) and
    importable ones (Chainer's links, ``helpers.fast_conv``) by name. An unchanged model is not written again.
    """
    path = cache.cache_file(f"{name}-model.pkl")
    wanted = {"model_blake2b": weights_key(model)}

    def write(_: None, tmp: Path) -> None:
        tmp.write_bytes(cloudpickle.dumps(model))

    cache.load_or_make(path, wanted, load=lambda p: None, make=lambda: None, write=write)
    return path


def load_model(name: str) -> chainer.Link:
    """The model ``save_model`` saved as ``<name>-model.pkl``, checked against the weights it was saved with.

    Unpickling runs code: load only files your own runs wrote. Raises ``FileNotFoundError`` saying to run
    notebook 06 if there is none or it fails the check.
    """
    path = cache.cache_file(f"{name}-model.pkl")
    saved = cache.read_fingerprint(path) or {}
    if "model_blake2b" not in saved or cache.why_not_reusable(path, saved) is not None:
        raise FileNotFoundError(f"no saved network in the cache ({path.name}): run notebook 06 first")
    model = pickle.loads(path.read_bytes())
    if weights_key(model) != saved["model_blake2b"]:
        raise FileNotFoundError(f"{path.name} does not hold the weights it was saved with: run notebook 06 again")
    return model
