"""Checks for lecture 2's exercises: upsampling and transposed convolutions.

Each check calls the student's function or class on several inputs and compares it
with PyTorch or with aelib's reference; it prints one verdict line (see `exercise`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from ..upsampling import upsample_bed_of_nails
from . import exercise

__all__ = [
    "check_bed_of_nails",
    "check_input_sizes",
    "check_transpose_padding",
    "check_resize_conv",
    "check_transposed_conv",
]


@exercise("2.1")
def check_bed_of_nails(bed_of_nails: Callable[[torch.Tensor, int], torch.Tensor]) -> str | None:
    """Compare `bed_of_nails(x, scale_factor)` with the reference on several shapes and scale factors."""
    g = torch.Generator().manual_seed(0)
    cases = [
        (torch.arange(1.0, 5.0).reshape(1, 1, 2, 2), 2),
        (torch.randn(2, 3, 4, 5, generator=g), 2),
        (torch.randn(1, 2, 3, 2, generator=g), 3),
        (torch.randn(3, 1, 1, 1, generator=g), 4),
        (torch.randn(2, 2, 5, 5, generator=g), 1),
    ]
    for x, scale in cases:
        original = x.clone()
        got = bed_of_nails(x, scale)
        want = upsample_bed_of_nails(x, scale)
        if not isinstance(got, torch.Tensor):
            return f"bed_of_nails should return a tensor, got {type(got).__name__}"
        if not torch.equal(x, original):
            return "bed_of_nails changed its input in place; build a new tensor instead"
        if got.shape != want.shape:
            return (
                f"for x of shape {tuple(x.shape)} and scale_factor {scale} the output should be {tuple(want.shape)}, "
                f"got {tuple(got.shape)}"
            )
        if not torch.allclose(got.float(), want, atol=1e-6):
            return (
                f"wrong values for x of shape {tuple(x.shape)} and scale_factor {scale}: "
                "each input value belongs at the top-left corner of its scale_factor x scale_factor block, "
                "with zeros everywhere else in the block"
            )
    return None


def _conv1d_size(n: int, k: int, s: int, p: int, d: int) -> int | None:
    """Return what nn.Conv1d makes of an input of size n, or None if PyTorch refuses it."""
    try:
        return F.conv1d(torch.zeros(1, 1, n), torch.zeros(1, 1, k), stride=s, padding=p, dilation=d).shape[-1]
    except RuntimeError:
        return None


@exercise("2.2")
def check_input_sizes(input_sizes: Callable[..., list[int]]) -> str | None:
    """Compare `input_sizes(output_size, kernel_size, stride, padding, dilation)` with a search over F.conv1d inputs."""
    settings = [
        (14, 3, 2, 1, 1),
        (7, 3, 2, 1, 1),
        (1, 7, 1, 0, 1),
        (60, 5, 1, 0, 1),
        (5, 4, 3, 0, 1),
        (3, 3, 4, 2, 1),
        (1, 3, 2, 1, 1),
        (1, 1, 3, 1, 1),
        (2, 1, 4, 2, 1),
        (4, 3, 2, 1, 2),
        (2, 2, 5, 0, 3),
    ]
    for o, k, s, p, d in settings:
        args = f"output_size={o}, kernel_size={k}, stride={s}, padding={p}, dilation={d}"
        want = [n for n in range(1, o * s + d * (k - 1) + 2) if _conv1d_size(n, k, s, p, d) == o]
        answer = input_sizes(o, k, s, p, d)
        try:
            got = [int(n) for n in answer]
        except (TypeError, ValueError):
            return f"return a list of input sizes (ints), got {answer!r} for {args}"
        if len(set(got)) != len(got):
            return f"for {args} your list repeats a size: {got}"
        wrong = sorted(set(got) - set(want))
        if wrong:
            return f"for {args} an input of size {wrong[0]} gives {_conv1d_size(wrong[0], k, s, p, d)} outputs, not {o}"
        missing = sorted(set(want) - set(got))
        if missing:
            return f"for {args} an input of size {missing[0]} also gives {o} outputs, but it is not in your list"
    return None


@exercise("2.3")
def check_transpose_padding(transpose_padding: Callable[[int, int, int, int], tuple[int, int]]) -> str | None:
    """Check `transpose_padding(in_size, out_size, kernel_size, stride)` for a working (padding, output_padding)."""
    possible = [
        (7, 14, 3, 2),
        (14, 28, 3, 2),
        (1, 7, 7, 1),
        (16, 32, 4, 2),
        (8, 17, 4, 2),
        (5, 15, 5, 3),
        (10, 19, 3, 2),
        (4, 12, 3, 3),
    ]
    impossible = [(4, 20, 3, 2), (7, 14, 3, 1), (8, 16, 1, 1)]
    for n, target, k, s in possible:
        args = f"in_size={n}, out_size={target}, kernel_size={k}, stride={s}"
        answer = transpose_padding(n, target, k, s)
        if not (
            isinstance(answer, tuple)
            and len(answer) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in answer)
        ):
            return f"return a tuple of two ints (padding, output_padding), got {answer!r} for {args}"
        p, op = answer
        try:
            size = nn.ConvTranspose1d(1, 1, k, stride=s, padding=p, output_padding=op)(torch.zeros(1, 1, n)).shape[-1]
        except RuntimeError as err:
            return f"for {args} PyTorch rejects padding={p}, output_padding={op}: {str(err).splitlines()[0][:90]}"
        if size != target:
            return f"for {args} padding={p}, output_padding={op} give an output of size {size}, not {target}"
    for n, target, k, s in impossible:
        try:
            answer = transpose_padding(n, target, k, s)
        except ValueError:
            continue
        return (
            f"no padding and output_padding take size {n} to {target} with kernel_size={k} and stride={s}, "
            f"but you returned {answer!r}; raise ValueError when there is no solution"
        )
    return None


@exercise("2.4")
def check_resize_conv(resize_conv: type[nn.Module]) -> str | None:
    """Check `ResizeConv2d(in_channels, out_channels, scale_factor)`: shapes, learnable weights, no checkerboard."""
    with torch.random.fork_rng():  # seed the layers' initialisation without touching the notebook's random state
        torch.manual_seed(0)
        return _resize_conv_problem(resize_conv)


def _resize_conv_problem(resize_conv: type[nn.Module]) -> str | None:
    for c_in, c_out, scale in [(1, 1, 2), (3, 8, 2), (4, 2, 3)]:
        layer = resize_conv(c_in, c_out, scale)
        if not isinstance(layer, nn.Module):
            return f"ResizeConv2d(...) should be an nn.Module, got {type(layer).__name__}"
        params = [q for q in layer.parameters() if q.requires_grad]
        if not params:
            return "the layer has no trainable parameters: the point of it is to learn the upsampling"
        x = torch.rand(2, c_in, 6, 7)
        y = layer(x)
        want = (2, c_out, 6 * scale, 7 * scale)
        if tuple(y.shape) != want:
            return (
                f"ResizeConv2d({c_in}, {c_out}, {scale}) on input {tuple(x.shape)} "
                f"should give {want}, got {tuple(y.shape)}"
            )
        y.square().mean().backward()
        if all(q.grad is None or not q.grad.abs().sum() for q in params):
            return "no gradient reaches the parameters: make sure the convolution's output is what forward returns"
        with torch.no_grad():
            flat = layer(torch.ones(1, c_in, 8, 8))[:, :, 4:-4, 4:-4]  # a constant image; borders see the zero padding
        spread = (flat.amax(dim=(2, 3)) - flat.amin(dim=(2, 3))).max().item()
        if spread > 1e-5 * max(1.0, flat.abs().max().item()):
            return (
                f"a constant image comes out with a pattern (values vary by {spread:.3g} away from the borders): "
                "resize first, then use a stride-1 convolution with 'same' padding"
            )
    return None


# (batch, in_channels, out_channels, H, W, kH, kW, stride, padding), simplest first, so the first
# failing case isolates one idea: stamping, stride, cropping, channels, a batch.
_TRANSPOSED_CASES = [
    (1, 1, 1, 2, 2, 3, 3, 1, 0),
    (1, 1, 1, 3, 4, 3, 2, 1, 0),
    (1, 1, 1, 3, 3, 3, 3, 2, 0),
    (1, 1, 1, 4, 3, 4, 4, 2, 1),
    (1, 1, 1, 3, 5, 3, 3, 3, 2),
    (1, 2, 2, 3, 4, 3, 3, 2, 1),
    (1, 3, 1, 3, 3, 2, 2, 2, 0),
    (1, 1, 4, 3, 3, 3, 3, 2, 1),
    (1, 3, 2, 4, 3, 2, 3, 1, 1),
    (3, 2, 3, 3, 3, 3, 3, 2, 1),
    (2, 4, 4, 5, 4, 4, 4, 2, 1),
]


# Loose enough for an answer computed in float32 (a `torch.zeros` output buffer), far tighter than any mistake.
_CLOSE = dict(rtol=1e-5, atol=1e-5)


@contextlib.contextmanager
def _without_conv_transpose() -> Iterator[None]:
    """Make PyTorch's transposed convolutions raise, so that the answer must be the student's own loop."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise RuntimeError(
            "this exercise asks for a stamp-and-add loop, not PyTorch's conv_transpose2d (the check compares with it)"
        )

    saved = (F.conv_transpose2d, torch.conv_transpose2d)
    F.conv_transpose2d = torch.conv_transpose2d = refuse
    try:
        yield
    finally:
        F.conv_transpose2d, torch.conv_transpose2d = saved


def _crop_one_side(full: torch.Tensor, padding: int) -> torch.Tensor:
    """Crop 2 * padding rows and columns from the bottom and right only."""
    if padding == 0:
        return full
    return full[..., : -2 * padding, : -2 * padding]


def transposed_size_mistake(got: tuple[int, ...], want: tuple[int, ...], padding: int, args: str) -> str:
    """Return the hint for a transposed convolution of shape `got` where `want` was due (self-check and grader)."""
    uncropped = want[:2] + tuple(n + 2 * padding for n in want[2:])
    if padding and got == uncropped:
        return (
            f"for {args} the output is {got}, the size before cropping: remove `padding` rows "
            f"and columns from each side to get {want}"
        )
    return (
        f"for {args} the output should be {want}, got {got}: "
        "each spatial size is (n - 1) * stride + kernel_size - 2 * padding"
    )


def _named_mistake(got: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, stride: int, padding: int) -> str | None:
    """Recognise a typical wrong answer by recomputing it with PyTorch; None if it is none of them."""

    def same(candidate: torch.Tensor) -> bool:
        return candidate.shape == got.shape and torch.allclose(got, candidate, **_CLOSE)

    def conv_t(w: torch.Tensor, p: int = padding) -> torch.Tensor:
        return F.conv_transpose2d(x, w, stride=stride, padding=p)

    flips = {"both ways (rows and columns)": (-2, -1), "upside down (rows)": (-2,), "left to right (columns)": (-1,)}
    for how, dims in flips.items():
        if weight.shape[-2] * weight.shape[-1] > 1 and same(conv_t(weight.flip(dims))):
            return (
                f"the kernel is flipped {how}: a transposed convolution stamps the kernel as it is, "
                "weight[i, o, a, b] lands on output (h * stride + a, w * stride + b) before cropping"
            )
    if weight.shape[-2] == weight.shape[-1] and same(conv_t(weight.transpose(-2, -1))):
        return "the kernel's rows and columns are swapped: kernel row a goes to output row h * stride + a"
    if weight.shape[0] == weight.shape[1] > 1 and same(conv_t(weight.transpose(0, 1))):
        return (
            "the channels are mixed up: a transposed convolution's weight is (in_channels, out_channels, kH, kW), "
            "the other way round from Conv2d's"
        )
    if padding and same(_crop_one_side(conv_t(weight, 0), padding)):
        return "the padding is cropped from one side only: crop `padding` rows and columns from every side"
    for c in range(x.shape[1]) if x.shape[1] > 1 else ():
        alone = F.conv_transpose2d(x[:, c : c + 1], weight[c : c + 1], stride=stride, padding=padding)
        if same(alone):
            return (
                f"only input channel {c} contributes: every input channel stamps its own kernel, and the stamps add up"
            )
    if x.shape[0] > 1 and torch.allclose(got[:1], conv_t(weight)[:1], **_CLOSE):
        return "the first image of the batch is right but not the others: stamp every image of the batch"
    return None


@exercise("2.5")
def check_transposed_conv(transposed_conv: Callable[..., torch.Tensor]) -> str | None:
    """Compare `transposed_conv(x, weight, stride, padding)` with `F.conv_transpose2d` on several settings."""
    g = torch.Generator().manual_seed(0)
    cases = []
    for b, c_in, c_out, h, w, kh, kw, stride, padding in _TRANSPOSED_CASES:
        x = torch.randn(b, c_in, h, w, generator=g, dtype=torch.float64)
        weight = torch.randn(
            c_in, c_out, kh, kw, generator=g, dtype=torch.float64
        )  # (in_channels, out_channels, kH, kW)
        want = F.conv_transpose2d(x, weight, stride=stride, padding=padding)  # computed before PyTorch's is hidden
        cases.append((x, weight, stride, padding, want))
    for x, weight, stride, padding, want in cases:
        args = f"x {tuple(x.shape)}, weight {tuple(weight.shape)}, stride={stride}, padding={padding}"
        inputs = (x.clone(), weight.clone())
        with _without_conv_transpose():
            got = transposed_conv(inputs[0], inputs[1], stride, padding)
        if not isinstance(got, torch.Tensor):
            return f"return a tensor, got {type(got).__name__} for {args}"
        if not (torch.equal(inputs[0], x) and torch.equal(inputs[1], weight)):
            return "your function changed x or weight in place; write into a new output tensor"
        got = got.detach().double()
        if got.shape != want.shape:
            return transposed_size_mistake(tuple(got.shape), tuple(want.shape), padding, args)
        if not torch.allclose(got, want, **_CLOSE):
            mistake = _named_mistake(got, x, weight, stride, padding)
            if mistake:
                return f"for {args}: {mistake}"
            overlap = F.conv_transpose2d(
                torch.ones_like(x[:1, :1]), torch.ones_like(weight[:1, :1]), stride=stride, padding=padding
            )
            wrong = ~torch.isclose(got, want, **_CLOSE).all(
                dim=(0, 1)
            )  # (H_out, W_out): wrong in some image or channel
            if not wrong[overlap[0, 0] == 1].any():
                return (
                    f"for {args} the values are right where one stamp lands but wrong where stamps overlap: "
                    "add each stamp into the output (+=), do not overwrite it"
                )
            return (
                f"wrong values for {args}: input pixel (h, w) of channel i adds x[b, i, h, w] * weight[i, o] into "
                "output channel o at rows h * stride ..., columns w * stride ..., "
                "then `padding` is cropped from each side"
            )
    return None
