"""Convolution arithmetic against real PyTorch layers, and the convolution matrix C.

What lecture 2 relies on, and how it is tested here: `conv_output_size` and
`conv_transpose_output_size` are compared with real PyTorch layers on 8,200 parameter
combinations: 7,200 exhaustive 1-D settings (1,440 for `Conv1d`, 5,760 for
`ConvTranspose1d`, the grid `GRID` below) and 1,000 drawn by Hypothesis in 1-D, 2-D and
3-D (400 for `Conv1d/2d/3d`, 400 for `ConvTranspose1d/2d/3d`, and 200 with one parameter
out of range, which both PyTorch and aelib must refuse). The matrix identities
conv(x) = C x and conv_transpose(y) = C^T y are checked on 60 random kernels, strides,
paddings, dilations and channel counts in 1-D, 2-D and 3-D.
"""

from __future__ import annotations

import itertools
import warnings

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from torch import nn

from aelib.convolution import conv_matrix, conv_output_size, conv_transpose_output_size, show_conv_matrix

CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
CONV_TRANSPOSE = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}
FUNCTIONAL = {1: (F.conv1d, F.conv_transpose1d), 2: (F.conv2d, F.conv_transpose2d), 3: (F.conv3d, F.conv_transpose3d)}

# Fixed seed and no deadline: the same examples on every run, however slow the machine.
SETTINGS = dict(derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def pytorch_size(layer: type[nn.Module], size: tuple[int, ...], **params: tuple[int, ...]) -> tuple[int, ...] | None:
    """Return the spatial output size of a real layer on a (1, 1, *size) input, or None if PyTorch refuses.

    PyTorch checks a transposed convolution's output size with "any dimension positive"
    rather than "every dimension positive", and returns an empty tensor when only some
    dimensions come out as zero; an empty output counts as refused here.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # zero-sized kernels warn at initialisation
            module = layer(1, 1, bias=False, **params)
            out = module(torch.zeros(1, 1, *size))
    except (RuntimeError, ValueError):
        return None
    return None if 0 in out.shape[2:] else tuple(out.shape[2:])


def ours(function, *args: tuple[int, ...]) -> tuple[int, ...] | None:
    """Return aelib's output size, or None when it raises ValueError."""
    try:
        return function(*args)
    except ValueError:
        return None


@st.composite
def layer_params(draw: st.DrawFn) -> tuple[int, dict[str, tuple[int, ...]]]:
    """Draw a dimension (1, 2 or 3) and one value per dimension for every size parameter."""
    nd = draw(st.sampled_from([1, 2, 3]))

    def per_dim(values: st.SearchStrategy[int]) -> tuple[int, ...]:
        return tuple(draw(st.lists(values, min_size=nd, max_size=nd)))

    params = {
        "size": per_dim(st.integers(1, 12 if nd < 3 else 7)),
        "kernel_size": per_dim(st.integers(1, 6)),
        "stride": per_dim(st.integers(1, 4)),
        "padding": per_dim(st.integers(0, 4)),
        "dilation": per_dim(st.integers(1, 3)),
    }
    # Below max(stride, dilation), as PyTorch requires, except one time in ten per dimension.
    params["output_padding"] = tuple(
        max(s, d) if draw(st.integers(0, 9)) == 0 else draw(st.integers(0, max(s, d) - 1))
        for s, d in zip(params["stride"], params["dilation"], strict=True)
    )
    return nd, params


@settings(max_examples=400, **SETTINGS)
@given(layer_params())
def test_conv_output_size_matches_pytorch(case: tuple[int, dict]) -> None:
    nd, p = case
    want = pytorch_size(
        CONV[nd],
        p["size"],
        kernel_size=p["kernel_size"],
        stride=p["stride"],
        padding=p["padding"],
        dilation=p["dilation"],
    )
    assert ours(conv_output_size, p["size"], p["kernel_size"], p["stride"], p["padding"], p["dilation"]) == want


@settings(max_examples=400, **SETTINGS)
@given(layer_params())
def test_conv_transpose_output_size_matches_pytorch(case: tuple[int, dict]) -> None:
    nd, p = case
    want = pytorch_size(
        CONV_TRANSPOSE[nd],
        p["size"],
        kernel_size=p["kernel_size"],
        stride=p["stride"],
        padding=p["padding"],
        output_padding=p["output_padding"],
        dilation=p["dilation"],
    )
    got = ours(
        conv_transpose_output_size,
        p["size"],
        p["kernel_size"],
        p["stride"],
        p["padding"],
        p["output_padding"],
        p["dilation"],
    )
    assert got == want


# One parameter out of range in one dimension: PyTorch refuses, and so must aelib.
BAD_VALUES = {
    "size": [0],
    "kernel_size": [0, -1],
    "stride": [0, -1],
    "padding": [-1, -2],
    "output_padding": [-1],
    "dilation": [0, -1],
}


@settings(max_examples=200, **SETTINGS)
@given(
    layer_params(),
    st.sampled_from([(name, v) for name, values in BAD_VALUES.items() for v in values]),
    st.integers(0, 2),
)
def test_bad_parameters_are_refused_by_both(case: tuple[int, dict], bad: tuple[str, int], dim: int) -> None:
    nd, p = case
    name, value = bad
    p[name] = p[name][: dim % nd] + (value,) + p[name][dim % nd + 1 :]
    conv = dict(kernel_size=p["kernel_size"], stride=p["stride"], padding=p["padding"], dilation=p["dilation"])
    if name != "output_padding":  # convolutions have no output_padding
        assert pytorch_size(CONV[nd], p["size"], **conv) is None
        with pytest.raises(ValueError, match=rf"\b{name} must be"):
            conv_output_size(p["size"], **conv)
    assert pytorch_size(CONV_TRANSPOSE[nd], p["size"], output_padding=p["output_padding"], **conv) is None
    with pytest.raises(ValueError, match=rf"\b{name} must be"):
        conv_transpose_output_size(p["size"], output_padding=p["output_padding"], **conv)


GRID = dict(size=range(1, 9), kernel_size=range(1, 6), stride=range(1, 4), padding=range(0, 4), dilation=range(1, 4))


def test_every_small_1d_conv_setting_matches_pytorch() -> None:
    checked = refused = 0
    for n, k, s, p, d in itertools.product(*GRID.values()):
        want = pytorch_size(nn.Conv1d, (n,), kernel_size=k, stride=s, padding=p, dilation=d)
        got = ours(conv_output_size, n, k, s, p, d)
        assert (got if got is None else (got,)) == want, (n, k, s, p, d)
        checked, refused = checked + 1, refused + (want is None)
    assert checked == 1440 and 0 < refused < checked


def test_every_small_1d_conv_transpose_setting_matches_pytorch() -> None:
    checked = refused = 0
    for n, k, s, p, d, op in itertools.product(*GRID.values(), range(0, 4)):
        want = pytorch_size(nn.ConvTranspose1d, (n,), kernel_size=k, stride=s, padding=p, output_padding=op, dilation=d)
        got = ours(conv_transpose_output_size, n, k, s, p, op, d)
        assert (got if got is None else (got,)) == want, (n, k, s, p, op, d)
        checked, refused = checked + 1, refused + (want is None)
    assert checked == 5760 and 0 < refused < checked


def test_lecture_examples() -> None:
    assert conv_output_size(64, 5) == 60
    assert conv_transpose_output_size(60, 5) == 64
    assert conv_transpose_output_size(64, 3, stride=2, padding=1, output_padding=1) == 128
    assert conv_output_size(28, 3, stride=2, padding=1) == 14  # (28 + 2 - 3 + 2) / 2 = 14.5 on the slide
    assert conv_output_size((28, 14), 3, 2, 1) == (14, 7)
    assert conv_transpose_output_size((7, 14), 3, 2, 1, 1) == (14, 28)


@pytest.mark.parametrize(
    ("function", "args", "message"),
    [
        (conv_output_size, (0, 3), r"size must be a positive integer, got size=0"),
        (conv_output_size, (5, 0), r"kernel_size must be a positive integer, got kernel_size=0"),
        (conv_output_size, (5, 3, 0), r"stride must be a positive integer, got stride=0"),
        (conv_output_size, (5, 3, 1, -1), r"padding must be zero or positive, got padding=-1"),
        (conv_output_size, (5, 3, 1, 0, 0), r"dilation must be a positive integer, got dilation=0"),
        (conv_output_size, (5, 6), r"kernel does not fit.*6 positions but size \+ 2\*padding = 5\+2\*0 = 5"),
        (conv_output_size, (5, 3, 1, 0, 3), r"kernel does not fit.*3\*\(3-1\)\+1 = 7 positions"),
        (conv_output_size, ((8, 5), (3, 6)), r"kernel does not fit.*\(spatial dimension 2 of 2\)"),
        (
            conv_transpose_output_size,
            (5, 3, 2, 0, 2),
            r"output_padding must be smaller than either stride or dilation, "
            r"got output_padding=2 with stride=2 and dilation=1",
        ),
        (conv_transpose_output_size, (5, 3, 1, 0, 1, 1), r"output_padding=1 with stride=1 and dilation=1"),
        (
            conv_transpose_output_size,
            (5, 3, 1, 0, -1),
            r"output_padding must be zero or positive, got output_padding=-1",
        ),
        (
            conv_transpose_output_size,
            (1, 1, 1, 1),
            r"output size .* = \(1-1\)\*1 - 2\*1 \+ 1\*\(1-1\) \+ 0 \+ 1 = -1 is not positive",
        ),
        (conv_transpose_output_size, (6, 1, 1, 3), r"= 0 is not positive; use less padding"),
        (conv_transpose_output_size, (0, 3), r"size must be a positive integer, got size=0"),
        (
            conv_transpose_output_size,
            ((4, 4), 3, (1, 0)),
            r"stride must be a positive integer, got stride=0 \(spatial dimension 2 of 2\)",
        ),
    ],
)
def test_bad_parameters_raise_a_clear_error(function, args, message) -> None:
    with pytest.raises(ValueError, match=message):
        function(*args)


def test_tuples_must_agree_and_values_must_be_ints() -> None:
    with pytest.raises(ValueError, match="same, non-zero length"):
        conv_output_size((8, 8), (3, 3, 3))
    with pytest.raises(ValueError, match="same, non-zero length"):
        conv_transpose_output_size((), 3)
    with pytest.raises(TypeError, match="kernel_size must be an int"):
        conv_output_size(8, 2.5)
    with pytest.raises(TypeError, match="stride must be an int"):
        conv_transpose_output_size(8, 3, True)


def exact_output_padding(
    n: tuple[int, ...], k: tuple[int, ...], s: tuple[int, ...], p: tuple[int, ...], d: tuple[int, ...]
) -> tuple[int, ...]:
    """The output_padding that makes the transposed convolution give back size n (what the floor dropped)."""
    return tuple((n_ + 2 * p_ - d_ * (k_ - 1) - 1) % s_ for n_, k_, s_, p_, d_ in zip(n, k, s, p, d, strict=True))


@settings(max_examples=60, **SETTINGS)
@given(layer_params(), st.integers(1, 3), st.integers(1, 3), st.integers(0, 2**31 - 1))
def test_conv_matrix_identities(case: tuple[int, dict], c_in: int, c_out: int, seed: int) -> None:
    nd, p = case
    size = tuple(min(n, 6 if nd < 3 else 4) for n in p["size"])
    kernel = tuple(min(k, 3) for k in p["kernel_size"])
    s, pad, d = p["stride"], p["padding"], p["dilation"]
    assume(ours(conv_output_size, size, kernel, s, pad, d) is not None)
    g = torch.Generator().manual_seed(seed)
    weight = torch.randn(c_out, c_in, *kernel, generator=g, dtype=torch.float64)
    x = torch.randn(1, c_in, *size, generator=g, dtype=torch.float64)
    conv, conv_transpose = FUNCTIONAL[nd]
    C = conv_matrix(weight, size, s, pad, d)
    y = conv(x, weight, stride=s, padding=pad, dilation=d)  # (1, c_out, *out)
    assert C.shape == (y.numel(), x.numel())
    torch.testing.assert_close(C @ x.flatten(), y.flatten(), rtol=1e-10, atol=1e-10)
    z = torch.randn(y.shape, generator=g, dtype=torch.float64)
    op = exact_output_padding(size, kernel, s, pad, d)
    back = conv_transpose(z, weight, stride=s, padding=pad, output_padding=op, dilation=d)  # (1, c_in, *size)
    torch.testing.assert_close(C.T @ z.flatten(), back.flatten(), rtol=1e-10, atol=1e-10)


def test_conv_matrix_small_case_by_hand() -> None:
    weight = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])  # (1, 1, 2, 2)
    C = conv_matrix(weight, (2, 3))  # 2x3 input => 1x2 output
    assert C.tolist() == [[1, 2, 0, 3, 4, 0], [0, 1, 2, 0, 3, 4]]
    C = conv_matrix(torch.tensor([[[1.0, 2.0, 3.0]]]), (4,), stride=1, padding=1)  # 1-D, padding 1: 4 outputs
    assert C.tolist() == [[2, 3, 0, 0], [1, 2, 3, 0], [0, 1, 2, 3], [0, 0, 1, 2]]


def test_conv_matrix_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match=r"weight must have shape \(C_out, C_in, \*kernel_size\)"):
        conv_matrix(torch.ones(1, 1, 3, 3), (4,))
    with pytest.raises(ValueError, match="kernel does not fit"):
        conv_matrix(torch.ones(1, 1, 5, 5), (4, 4))


def test_show_conv_matrix_draws_every_nonzero_entry() -> None:
    import matplotlib.pyplot as plt

    C = conv_matrix(torch.arange(1.0, 10.0).reshape(1, 1, 3, 3), (4, 4))
    fig = show_conv_matrix(C, input_shape=(4, 4))
    ax, colorbar = fig.axes
    assert colorbar.get_ylabel() == "entry" and colorbar.get_ylim() == (
        -9,
        9,
    )  # symmetric around 0, up to the largest |entry|
    assert len(ax.texts) == int((C != 0).sum()) == 36
    assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
    plt.close(fig)
