"""A 3 × 3 convolution for channels-last arrays, written as a custom Chainer ``FunctionNode``.

Notebook 06's network could use Chainer's own ``L.Convolution2D`` (channels first, im2col then ``tensordot`` on
a CPU). On channels-last arrays, ``Conv3x3Function`` works through the batch ``CHUNK`` images at a time, so that
what it builds stays in the processor's cache: the matrix of all 3 × 3 patches (one padded copy and a strided
view), then one matrix product. Backward, per chunk: the weights' gradient is one product with the same patches
(built again, not kept), the input's gradient one product of the output gradient's patches with the weights
flipped (a convolution too). Notebook 06 times a training step with each, in one run. ``Conv3x3`` (the link) is
what the network uses; ``conv3x3`` (the function) is checked against ``F.convolution_2d`` and by Chainer's
gradient checker in ``tests/test_features.py`` and in notebook 06.
"""

from __future__ import annotations

import warnings

import numpy as np

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # pkg_resources / numpy.distutils deprecation noise at import
    import chainer
    from chainer import function_node


CHUNK = 16
"""Images per matrix product: 16 maps of 8 × 8 × 64 (notebook 06's second block) make a patch matrix of 2.4 MB."""


def _patches(x: np.ndarray) -> np.ndarray:
    """All 3 × 3 neighbourhoods of a channels-last batch ``(n, h, w, c)``, zero padded: ``(n·h·w, 9·c)``."""
    n, h, w, c = x.shape
    padded = np.zeros((n, h + 2, w + 2, c), dtype=x.dtype)
    padded[:, 1:-1, 1:-1] = x
    s = padded.strides
    windows = np.lib.stride_tricks.as_strided(padded, (n, h, w, 3, 3, c), (s[0], s[1], s[2], s[1], s[2], s[3]))
    return windows.reshape(n * h * w, 9 * c)


def _convolve(x: np.ndarray, W: np.ndarray) -> np.ndarray:
    """``x`` ``(n, h, w, c_in)`` convolved with ``W`` ``(9·c_in, c_out)``, ``CHUNK`` images per product."""
    n, h, w, _ = x.shape
    y = np.empty((n, h, w, W.shape[1]), dtype=np.result_type(x, W))
    for start in range(0, n, CHUNK):
        np.matmul(_patches(x[start:start + CHUNK]), W, out=y[start:start + CHUNK].reshape(-1, W.shape[1]))
    return y


class Conv3x3Function(function_node.FunctionNode):
    """3 × 3 convolution, stride 1, zero padding 1, no bias, on channels-last arrays.

    Inputs: ``x`` of shape ``(n, h, w, c_in)`` and ``W`` of shape ``(9·c_in, c_out)`` (rows ordered as
    ``(dy, dx, c_in)``). Output ``(n, h, w, c_out)``. Gradients are computed for what needs them; they are not
    differentiable again (no double backpropagation, which training does not use).
    """

    def forward(self, inputs: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray]:
        x, W = inputs
        if x.ndim != 4 or W.shape[0] != 9 * x.shape[3]:
            raise ValueError(f"conv3x3 needs x (n, h, w, c) and W (9*c, c_out); got {x.shape} and {W.shape}")
        self.retain_inputs((0, 1))
        return _convolve(x, W),

    def backward(self, indexes: tuple[int, ...], grad_outputs: tuple) -> tuple:
        gy = grad_outputs[0].array
        x, W = (v.array for v in self.get_retained_inputs())
        c_in, c_out = x.shape[3], W.shape[1]
        gx = gW = None
        if 1 in indexes:
            gW = np.zeros_like(W)
            for start in range(0, len(x), CHUNK):
                gW += _patches(x[start:start + CHUNK]).T @ gy[start:start + CHUNK].reshape(-1, c_out)
            gW = chainer.Variable(gW)
        if 0 in indexes:  # the output gradient convolved with the weights turned by 180 degrees, c_in and c_out swapped
            flipped = W.reshape(3, 3, c_in, c_out)[::-1, ::-1].transpose(0, 1, 3, 2).reshape(9 * c_out, c_in)
            gx = chainer.Variable(_convolve(gy, flipped))
        return gx, gW


def conv3x3(x: chainer.Variable | np.ndarray, W: chainer.Variable | np.ndarray) -> chainer.Variable:
    """Apply ``Conv3x3Function``: channels-last 3 × 3 convolution (see its docstring)."""
    return Conv3x3Function().apply((x, W))[0]


class Conv3x3(chainer.Link):
    """A link holding the weights of ``conv3x3``: ``(n, h, w, c_in)`` maps in, ``(n, h, w, c_out)`` out.

    Weights are He-normal draws from ``rng`` (a ``numpy.random.Generator``), so a seeded generator gives the same
    network everywhere.
    """

    def __init__(self, c_in: int, c_out: int, rng: np.random.Generator) -> None:
        super().__init__()
        if c_in < 1 or c_out < 1:
            raise ValueError(f"channel counts must be positive; got {c_in} and {c_out}")
        fan_in = 9 * c_in
        with self.init_scope():
            self.W = chainer.Parameter((rng.standard_normal((fan_in, c_out)) * np.sqrt(2.0 / fan_in)).astype(np.float32))

    def forward(self, x: chainer.Variable | np.ndarray) -> chainer.Variable:
        return conv3x3(x, self.W)
