"""Learned image features: a small convolutional network in Chainer, its training, and its embeddings.

The network reads CIFAR-10-shaped images, ``(3, 32, 32)`` in [0, 1] as Chainer gives them, and maps each to a
vector (its *embedding*) whose direction says what the picture shows. Its classifier is a *cosine* classifier:
it scores each class by the angle between the embedding and a learned class direction, so training pulls images
of one class towards one direction — exactly what an angular Annoy index then searches.

Why the code looks the way it does:

- **Channels last, own 3 × 3 convolution.** Chainer's CPU convolution (im2col + ``tensordot`` in NCHW) spends
  most of its time copying; a 3 × 3 convolution over channels-last arrays is one strided view and one matrix
  product (``Conv3x3``), which made a training step two to three times as fast on the machine the series was
  written on (``tests/benchmarks/bench_conv.py`` runs both in one go).
- **Conv → 2 × 2 max pool → batch norm → ReLU** per stage, so the normalisation works on the pooled, four times
  smaller map.
- **Global max pool** of the last stage gives the embedding (``SmallConvNet.embed_prepared``).

Train with ``train_or_load`` (weights cached under ``helpers.cache``'s convention), embed with ``embed``.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from helpers import cache, config
from helpers.progress import Progress

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # pkg_resources / numpy.distutils deprecation noise at import
    import chainer
    import chainer.functions as F
    import chainer.links as L
    from chainer import function_node

IMAGE_SHAPE = (3, 32, 32)
"""One image as Chainer's ``get_cifar10()`` gives it: channels first."""


# --------------------------------------------------------------------------- building blocks


def _patches(x: np.ndarray) -> np.ndarray:
    """All 3 × 3 neighbourhoods of a channels-last batch ``(n, h, w, c)``, zero padded: ``(n·h·w, 9·c)``."""
    n, h, w, c = x.shape
    padded = np.zeros((n, h + 2, w + 2, c), dtype=x.dtype)
    padded[:, 1:-1, 1:-1] = x
    s = padded.strides
    windows = np.lib.stride_tricks.as_strided(padded, (n, h, w, 3, 3, c), (s[0], s[1], s[2], s[1], s[2], s[3]))
    return windows.reshape(n * h * w, 9 * c)


class Conv3x3(function_node.FunctionNode):
    """3 × 3 convolution, stride 1, zero padding 1, no bias, on channels-last arrays.

    Inputs: ``x`` of shape ``(n, h, w, c_in)`` and ``W`` of shape ``(9·c_in, c_out)`` (rows ordered as
    ``(dy, dx, c_in)``). Output ``(n, h, w, c_out)``. Gradients are computed for what needs them; they are not
    differentiable again (no double backpropagation, which training does not use).
    """

    def forward(self, inputs: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray]:
        x, W = inputs
        if x.ndim != 4 or W.shape[0] != 9 * x.shape[3]:
            raise ValueError(f"Conv3x3 needs x (n, h, w, c) and W (9*c, c_out); got {x.shape} and {W.shape}")
        n, h, w, _ = x.shape
        self._shape = x.shape
        self._cols = _patches(x)
        self.retain_inputs((1,))
        return (self._cols @ W).reshape(n, h, w, W.shape[1]),

    def backward(self, indexes: tuple[int, ...], grad_outputs: tuple) -> tuple:
        gy = grad_outputs[0].array
        W = self.get_retained_inputs()[0].array
        n, h, w, c = self._shape
        gy2 = gy.reshape(n * h * w, -1)
        gx = gW = None
        if 1 in indexes:
            gW = chainer.Variable(self._cols.T @ gy2)
        if 0 in indexes:
            padded = np.zeros((n, h + 2, w + 2, c), dtype=gy.dtype)
            taps = W.reshape(3, 3, c, -1)
            for dy in range(3):
                for dx in range(3):
                    padded[:, dy:dy + h, dx:dx + w] += (gy2 @ taps[dy, dx].T).reshape(n, h, w, c)
            gx = chainer.Variable(padded[:, 1:-1, 1:-1])
        self._cols = None
        return gx, gW


def conv3x3(x: chainer.Variable | np.ndarray, W: chainer.Variable | np.ndarray) -> chainer.Variable:
    """Apply ``Conv3x3``: channels-last 3 × 3 convolution (see its docstring)."""
    return Conv3x3().apply((x, W))[0]


def max_pool_2x2(h: chainer.Variable) -> chainer.Variable:
    """2 × 2 max pooling, stride 2, of a channels-last batch with even height and width."""
    n, height, width, c = h.shape
    return F.max(F.reshape(h, (n, height // 2, 2, width // 2, 2, c)), axis=(2, 4))


class BatchNormReLU(chainer.Chain):
    """Batch normalisation over every channel of a channels-last batch, then ReLU."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        with self.init_scope():
            self.bn = L.BatchNormalization(channels)

    def forward(self, h: chainer.Variable) -> chainer.Variable:
        shape = h.shape
        return F.reshape(F.relu(self.bn(F.reshape(h, (-1, shape[-1])))), shape)


# --------------------------------------------------------------------------- the network


class SmallConvNet(chainer.Chain):
    """Stages of conv 3 × 3 → max pool 2 × 2 (all but the last stage) → batch norm → ReLU; global max pool.

    ``widths`` are the stages' channel counts; the last one is the embedding's length. Weights are drawn from
    ``np.random.default_rng(seed)`` (He initialisation), so the same seed gives the same network everywhere.
    The per-channel pixel mean and standard deviation of the training images are part of the model (set by
    ``train``, saved with the weights), so every image is prepared the same way.
    """

    def __init__(self, widths: tuple[int, ...] = (32, 64, 128, 128), n_classes: int = 10, scale: float = 16.0,
                 seed: int = config.SEED) -> None:
        super().__init__()
        if len(widths) < 1 or any(w < 1 for w in widths):
            raise ValueError(f"widths must be positive channel counts; got {widths}")
        pooled = 2 ** (len(widths) - 1)
        if IMAGE_SHAPE[1] % pooled:
            raise ValueError(f"{len(widths)} stages halve 32 x 32 images too often")
        self.widths, self.n_classes, self.scale = tuple(widths), n_classes, scale
        rng = np.random.default_rng(seed)
        channels_in = IMAGE_SHAPE[0]
        with self.init_scope():
            for i, width in enumerate(widths):
                fan_in = 9 * channels_in
                weights = rng.standard_normal((fan_in, width)) * np.sqrt(2.0 / fan_in)
                setattr(self, f"conv{i}", chainer.Parameter(weights.astype(np.float32)))
                setattr(self, f"norm{i}", BatchNormReLU(width))
                channels_in = width
            directions = rng.standard_normal((n_classes, channels_in)).astype(np.float32)
            self.class_directions = chainer.Parameter(directions)
        self.add_persistent("pixel_mean", np.zeros(3, dtype=np.float32))
        self.add_persistent("pixel_std", np.ones(3, dtype=np.float32))

    @property
    def embedding_size(self) -> int:
        """Length of an embedding: the last stage's width."""
        return self.widths[-1]

    def prepare(self, images: np.ndarray) -> np.ndarray:
        """Images as Chainer gives them — ``(n, 3072)`` rows, ``(n, 3, 32, 32)`` or one ``(3, 32, 32)`` — as the
        network's input: channels last, standardised with the training images' per-channel mean and std."""
        images = np.asarray(images, dtype=np.float32)
        if images.shape == IMAGE_SHAPE:
            images = images[None]
        size = int(np.prod(IMAGE_SHAPE))
        if images.ndim == 2 and images.shape[1] == size:
            images = images.reshape(-1, *IMAGE_SHAPE)
        if images.ndim != 4 or images.shape[1:] != IMAGE_SHAPE:
            raise ValueError(f"expected images of shape {IMAGE_SHAPE} (or rows of {size} values), "
                             f"got an array of shape {images.shape}")
        return (images.transpose(0, 2, 3, 1) - self.pixel_mean) / self.pixel_std

    def embed_prepared(self, x: np.ndarray) -> chainer.Variable:
        """Embeddings of prepared (channels-last) images: the global max pool of the last stage."""
        h = x
        last = len(self.widths) - 1
        for i in range(len(self.widths)):
            h = conv3x3(h, getattr(self, f"conv{i}"))
            if i < last:
                h = max_pool_2x2(h)
            h = getattr(self, f"norm{i}")(h)
        return F.max(h, axis=(1, 2))

    def forward(self, x: np.ndarray) -> chainer.Variable:
        """Class scores of prepared images: ``scale`` × cosine between embedding and each class direction."""
        embedding = F.normalize(self.embed_prepared(x))
        return self.scale * F.matmul(embedding, F.normalize(self.class_directions), transb=True)


def weights_key(model: SmallConvNet) -> str:
    """A short hash of everything the model computes with: weights, batch-norm statistics, pixel statistics."""
    arrays = [np.asarray(value) for _, value in sorted(_state(model).items())]
    return cache.content_key(*arrays, params=list(model.widths))


def _state(model: SmallConvNet) -> dict[str, np.ndarray]:
    target: dict[str, np.ndarray] = {}
    chainer.serializers.DictionarySerializer(target).save(model)
    return target


# --------------------------------------------------------------------------- training


@dataclass(frozen=True)
class TrainingSettings:
    """Everything that decides the trained weights, besides the data (and the machine's rounding)."""

    widths: tuple[int, ...] = (32, 64, 128, 128)
    epochs: int = 3
    batch_size: int = 128
    learning_rate: float = 0.1   # peak of the one-cycle schedule: linear warm-up, then linear decay to 0
    warm_up: float = 0.2         # fraction of the steps spent warming up
    momentum: float = 0.9        # Nesterov
    weight_decay: float = 5e-4
    cosine_scale: float = 16.0   # class score = scale x cosine(embedding, class direction)
    seed: int = config.SEED

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or not 0 <= self.warm_up < 1 or self.learning_rate <= 0:
            raise ValueError(f"invalid training settings: {self}")


@dataclass
class EpochResult:
    """One line of the training log."""

    epoch: int
    loss: float
    train_accuracy: float
    seconds: float


@dataclass
class TrainedModel:
    """A trained network with its log; ``reused`` tells whether the weights came from the cache."""

    model: SmallConvNet
    settings: TrainingSettings
    history: list[EpochResult] = field(default_factory=list)
    reused: bool = False
    path: Path | None = None


def learning_rate_at(step: int, total_steps: int, settings: TrainingSettings) -> float:
    """One-cycle schedule: linear warm-up to ``learning_rate``, then linear decay to zero at ``total_steps``."""
    progress = step / max(total_steps, 1)
    if progress < settings.warm_up:
        return settings.learning_rate * progress / settings.warm_up
    return settings.learning_rate * max(0.0, 1 - progress) / (1 - settings.warm_up)


def train(images: np.ndarray, labels: np.ndarray, settings: TrainingSettings = TrainingSettings(),
          log: Callable[[str], None] = print, show_progress: bool = True) -> TrainedModel:
    """Train a ``SmallConvNet`` from scratch: Nesterov SGD, one-cycle learning rate, random horizontal flips.

    Seeded (weights, shuffling, flips), so a rerun on the same machine gives the same weights. Logs one line per
    epoch (mean loss and accuracy on the training batches, as they were seen).
    """
    labels = np.asarray(labels, dtype=np.int32)
    if len(images) != len(labels) or len(images) < settings.batch_size:
        raise ValueError(f"need at least one batch ({settings.batch_size}) of images with one label each; "
                         f"got {len(images)} images and {len(labels)} labels")
    model = SmallConvNet(settings.widths, n_classes=int(labels.max()) + 1, scale=settings.cosine_scale,
                         seed=settings.seed)
    as_cifar = np.asarray(images, dtype=np.float32).reshape(-1, *IMAGE_SHAPE)
    model.pixel_mean[...] = as_cifar.mean(axis=(0, 2, 3))
    model.pixel_std[...] = as_cifar.std(axis=(0, 2, 3))
    x = model.prepare(as_cifar)
    del as_cifar
    optimizer = chainer.optimizers.NesterovAG(lr=settings.learning_rate, momentum=settings.momentum)
    optimizer.setup(model)
    optimizer.add_hook(chainer.optimizer_hooks.WeightDecay(settings.weight_decay))
    rng = np.random.default_rng(settings.seed)
    steps_per_epoch = len(x) // settings.batch_size
    total_steps = steps_per_epoch * settings.epochs
    history = []
    step = 0
    with chainer.using_config("train", True):
        for epoch in range(1, settings.epochs + 1):
            start = time.perf_counter()
            order = rng.permutation(len(x))
            loss_sum = correct = 0.0
            label = f"epoch {epoch}/{settings.epochs}"
            with Progress(label, total=steps_per_epoch * settings.batch_size, enabled=show_progress) as bar:
                for b in range(steps_per_epoch):
                    rows = order[b * settings.batch_size:(b + 1) * settings.batch_size]
                    batch = x[rows]
                    flip = rng.random(len(rows)) < 0.5
                    batch[flip] = batch[flip, :, ::-1]
                    optimizer.lr = learning_rate_at(step, total_steps, settings)
                    scores = model(batch)
                    loss = F.softmax_cross_entropy(scores, labels[rows])
                    model.cleargrads()
                    loss.backward()
                    optimizer.update()
                    step += 1
                    loss_sum += float(loss.array)
                    correct += float((scores.array.argmax(axis=1) == labels[rows]).sum())
                    bar.update(len(rows))
            result = EpochResult(epoch, loss_sum / steps_per_epoch, correct / (steps_per_epoch * settings.batch_size),
                                 time.perf_counter() - start)
            history.append(result)
            log(format_epoch(result, settings.epochs))
    return TrainedModel(model, settings, history)


def format_epoch(result: EpochResult, epochs: int) -> str:
    """The log line of one epoch."""
    return (f"epoch {result.epoch}/{epochs}: loss {result.loss:.3f}, accuracy on training batches "
            f"{result.train_accuracy:.3f}, {result.seconds:.0f} s")


def training_fingerprint(images: np.ndarray, labels: np.ndarray, settings: TrainingSettings) -> dict:
    """What the trained weights depend on: the data's content key and every setting."""
    return {"data_blake2b": cache.content_key(np.asarray(images, dtype=np.float32), np.asarray(labels)),
            "settings": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(settings).items()},
            "model": "SmallConvNet/1"}


def _write_trained(trained: TrainedModel, path: Path) -> None:
    log = np.array([[r.epoch, r.loss, r.train_accuracy, r.seconds] for r in trained.history], dtype=np.float64)
    with open(path, "wb") as f:  # a file object: np.savez would add ".npz" to a temporary file's name
        np.savez(f, training_log=log, **_state(trained.model))


def _read_trained(path: Path, settings: TrainingSettings, n_classes: int) -> TrainedModel:
    model = SmallConvNet(settings.widths, n_classes=n_classes, scale=settings.cosine_scale, seed=settings.seed)
    with np.load(path) as saved:
        chainer.serializers.NpzDeserializer(saved).load(model)
        log = saved["training_log"]
    history = [EpochResult(int(e), float(loss), float(acc), float(s)) for e, loss, acc, s in log]
    return TrainedModel(model, settings, history, reused=True, path=path)


def train_or_load(images: np.ndarray, labels: np.ndarray, settings: TrainingSettings = TrainingSettings(),
                  name: str = "cnn-cifar10", log: Callable[[str], None] = print,
                  show_progress: bool = True) -> TrainedModel:
    """Reuse the weights cached as ``<name>.npz`` if they were trained on these images with these settings;
    else train (``train``) and save them. A reused model's training log is printed again, marked as such."""
    path = cache.cache_file(f"{name}.npz")
    wanted = training_fingerprint(images, labels, settings)
    n_classes = int(np.max(labels)) + 1
    trained, reused = cache.load_or_make(
        path, wanted, load=lambda p: _read_trained(p, settings, n_classes),
        make=lambda: train(images, labels, settings, log=log, show_progress=show_progress), write=_write_trained,
        log=log, needed=lambda t: sum(np.asarray(a).nbytes for a in _state(t.model).values()))
    trained.reused, trained.path = reused, path
    if reused:
        log(f"reused the weights in the cache ({path.name}); they were trained like this:")
        for result in trained.history:
            log("  " + format_epoch(result, settings.epochs))
    return trained


# --------------------------------------------------------------------------- embeddings


def embed(model: SmallConvNet, images: np.ndarray, batch_size: int = 500, show_progress: bool = True,
          label: str = "embedding") -> np.ndarray:
    """Embeddings (float32, one row per image, not normalised) of images in Chainer's layout, in test mode."""
    images = np.asarray(images, dtype=np.float32)
    single = images.shape == IMAGE_SHAPE
    if single:
        images = images[None]
    rows = []
    with chainer.using_config("train", False), chainer.no_backprop_mode(), \
            Progress(label, total=len(images), enabled=show_progress) as bar:
        for start in range(0, len(images), batch_size):
            chunk = images[start:start + batch_size]
            rows.append(model.embed_prepared(model.prepare(chunk)).array)
            bar.update(len(chunk))
    return np.concatenate(rows)


def embed_cached(model: SmallConvNet, images: np.ndarray, name: str, show_progress: bool = True) -> np.ndarray:
    """``embed``, saved as ``<name>.npy`` in the cache and reused when the model and the images are the same."""
    wanted = {"model_blake2b": weights_key(model), "images_blake2b": cache.content_key(np.asarray(images))}

    def load(path: Path) -> np.ndarray:
        vectors = np.load(path)
        if vectors.shape != (len(images), model.embedding_size):
            raise ValueError(f"holds an array of shape {vectors.shape}")
        return vectors

    def write(vectors: np.ndarray, tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.save(f, vectors)

    vectors, _ = cache.load_or_make(cache.cache_file(f"{name}.npy"), wanted, load,
                                    lambda: embed(model, images, show_progress=show_progress), write,
                                    needed=lambda v: v.nbytes)
    return vectors


def classify(model: SmallConvNet, embeddings: np.ndarray) -> np.ndarray:
    """The classifier's answer for each embedding (from ``embed``): the class whose direction is nearest."""
    directions = model.class_directions.array
    directions = directions / np.linalg.norm(directions, axis=1, keepdims=True)
    return (np.asarray(embeddings) @ directions.T).argmax(axis=1)


def accuracy(model: SmallConvNet, images: np.ndarray, labels: np.ndarray) -> float:
    """Share of images the classifier labels correctly (test mode)."""
    predicted = classify(model, embed(model, images, show_progress=False))
    return float((predicted == np.asarray(labels)).mean())
