"""Bed-of-nails upsampling (PyTorch has none) on hand-checked arrays, and a transposed convolution's overlap map."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest
import torch
import torch.nn.functional as F

from aelib.upsampling import overlap_count, show_overlap_counts, upsample_bed_of_nails

X = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])  # (1, 1, 2, 2)


def test_bed_of_nails_puts_each_pixel_top_left_and_zeros_elsewhere() -> None:
    assert upsample_bed_of_nails(X).tolist() == [[[[1, 0, 2, 0], [0, 0, 0, 0], [3, 0, 4, 0], [0, 0, 0, 0]]]]
    out = upsample_bed_of_nails(torch.arange(12.0).reshape(2, 3, 1, 2), 3)  # (2, 3, 3, 6)
    assert out.shape == (2, 3, 3, 6)
    assert out[:, :, 0, ::3].equal(torch.arange(12.0).reshape(2, 3, 2))
    assert out.sum() == 66 and (out != 0).sum() == 11  # the zero pixel stays zero


def test_bed_of_nails_is_a_transposed_convolution_with_a_one_hot_kernel() -> None:
    x = torch.randn(3, 1, 5, 4, generator=torch.Generator().manual_seed(0))
    kernel = torch.zeros(1, 1, 2, 2)
    kernel[0, 0, 0, 0] = 1
    assert upsample_bed_of_nails(x).equal(F.conv_transpose2d(x, kernel, stride=2))


def test_bed_of_nails_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match=r"batch of images \(B, C, H, W\), got \(28, 28\)"):
        upsample_bed_of_nails(torch.zeros(28, 28))
    for scale in (0, -2, 1.5, True):
        with pytest.raises(ValueError, match="scale_factor must be a positive integer"):
            upsample_bed_of_nails(X, scale)


def test_overlap_count_1d_known_cases() -> None:
    assert overlap_count(4, 3, 2).tolist() == [1, 1, 2, 1, 2, 1, 2, 1, 1]  # uneven: kernel 3 not divisible by stride 2
    assert overlap_count(4, 4, 2).tolist() == [1, 1, 2, 2, 2, 2, 2, 2, 1, 1]  # even away from the borders
    assert overlap_count(4, 4, 2, padding=1).tolist() == [1, 2, 2, 2, 2, 2, 2, 1]
    assert overlap_count(3, 2, 3).tolist() == [1, 1, 0, 1, 1, 0, 1, 1]  # stride > kernel: holes
    assert overlap_count(3, 3, 2, padding=1, output_padding=1).tolist() == [1, 2, 1, 2, 1, 1]
    assert overlap_count(3, 2, 1, dilation=2).tolist() == [1, 1, 2, 1, 1]


def test_overlap_count_2d_is_the_outer_product_of_1d_maps() -> None:
    counts = overlap_count((3, 3), 3, 2)  # (7, 7)
    assert counts[0].tolist() == [1, 1, 2, 1, 2, 1, 1]
    assert counts[2].tolist() == [2, 2, 4, 2, 4, 2, 2]  # where two overlapping rows meet two overlapping columns
    rows, cols = overlap_count(5, 3, 2), overlap_count(4, 4, 2, padding=1)
    assert overlap_count((5, 4), (3, 4), 2, (0, 1)).equal(rows[:, None] * cols[None, :])
    assert overlap_count((2, 2, 2), 3, 2).shape == (5, 5, 5)


def test_overlap_count_matches_a_real_layer_with_unit_weights() -> None:
    layer = torch.nn.ConvTranspose2d(1, 1, 3, stride=2, padding=1, output_padding=1, bias=False)
    torch.nn.init.ones_(layer.weight)
    want = layer(torch.ones(1, 1, 4, 4))[0, 0].detach()
    assert overlap_count((4, 4), 3, 2, 1, 1).float().equal(want)


def test_overlap_count_validates_like_the_layer() -> None:
    with pytest.raises(ValueError, match="output_padding must be smaller"):
        overlap_count(4, 3, 2, output_padding=2)
    with pytest.raises(ValueError, match="1, 2 or 3 dimensions"):
        overlap_count((2, 2, 2, 2), 1)


def test_show_overlap_counts_draws_1d_and_2d_maps() -> None:
    fig = show_overlap_counts({"1-D": overlap_count(4, 3, 2), "2-D": overlap_count((3, 3), 3, 2)}, title="t")
    bars, grid, colorbar = fig.axes
    assert colorbar.get_ylabel() == "taps landing there" and colorbar.get_ylim() == (
        0,
        4,
    )  # the grid's counts run 1 to 4
    assert len(bars.patches) == 9 and [t.get_text() for t in bars.texts] == [
        "1",
        "1",
        "2",
        "1",
        "2",
        "1",
        "2",
        "1",
        "1",
    ]
    assert len(grid.texts) == 49 and grid.get_xlabel() == "output column"
    plt.close(fig)
    open_before = plt.get_fignums()
    with pytest.raises(ValueError, match="1-D or 2-D maps"):
        show_overlap_counts({"3-D": overlap_count((2, 2, 2), 3, 2)})
    assert plt.get_fignums() == open_before  # no half-drawn figure left behind
