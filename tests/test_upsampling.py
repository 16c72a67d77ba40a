"""The four fixed upsampling options on hand-checked arrays, and the overlap map of a transposed convolution."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest
import torch
import torch.nn.functional as F

from aelib.upsampling import (
    max_pool_with_indices,
    overlap_count,
    show_overlap_counts,
    upsample_bed_of_nails,
    upsample_bilinear,
    upsample_max_unpool,
    upsample_nearest,
)

X = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])  # (1, 1, 2, 2)


def test_nearest_copies_each_pixel_into_a_block() -> None:
    assert upsample_nearest(X).tolist() == [[[[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]]]
    assert upsample_nearest(X, 3).shape == (1, 1, 6, 6)
    assert upsample_nearest(X, 1).equal(X)


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


def test_bilinear_weights_the_four_nearest_pixels() -> None:
    # Output pixel centres sit at input coordinates -0.25, 0.25, 0.75, 1.25; the edges are clamped.
    want = [[1.0, 1.25, 1.75, 2.0], [1.5, 1.75, 2.25, 2.5], [2.5, 2.75, 3.25, 3.5], [3.0, 3.25, 3.75, 4.0]]
    assert upsample_bilinear(X).tolist() == [[want]]
    out = upsample_bilinear(torch.full((2, 3, 4, 5), 7.0), 3)  # constant in, constant out
    assert out.shape == (2, 3, 12, 15)
    torch.testing.assert_close(out, torch.full_like(out, 7.0))


def test_max_unpooling_puts_the_maxima_back_where_they_were() -> None:
    x = torch.tensor([[[[1.0, 5.0, 2.0, 0.0], [3.0, 2.0, 1.0, 8.0], [0.0, 0.0, 6.0, 1.0], [4.0, 1.0, 2.0, 2.0]]]])
    pooled, indices = max_pool_with_indices(x)
    assert pooled.tolist() == [[[[5, 8], [4, 6]]]]
    assert indices.tolist() == [[[[1, 7], [12, 10]]]]
    want = [[0, 5, 0, 0], [0, 0, 0, 8], [0, 0, 6, 0], [4, 0, 0, 0]]
    assert upsample_max_unpool(pooled, indices).tolist() == [[want]]


def test_max_unpooling_restores_odd_sizes_with_output_size() -> None:
    x = torch.rand(2, 3, 7, 5, generator=torch.Generator().manual_seed(1))
    pooled, indices = max_pool_with_indices(x)  # (2, 3, 3, 2)
    out = upsample_max_unpool(pooled, indices, output_size=(7, 5))
    assert out.shape == x.shape
    kept = out != 0
    assert kept.sum() == pooled.numel() and out[kept].equal(x[kept])


@pytest.mark.parametrize("upsample", [upsample_nearest, upsample_bed_of_nails, upsample_bilinear])
def test_upsampling_rejects_bad_input(upsample) -> None:
    with pytest.raises(ValueError, match=r"batch of images \(B, C, H, W\), got \(28, 28\)"):
        upsample(torch.zeros(28, 28))
    for scale in (0, -2, 1.5, True):
        with pytest.raises(ValueError, match="scale_factor must be a positive integer"):
            upsample(X, scale)


def test_max_unpool_rejects_mismatched_indices() -> None:
    pooled, indices = max_pool_with_indices(torch.rand(1, 1, 4, 4))
    with pytest.raises(ValueError, match=r"indices must have the shape of x \(1, 1, 2, 2\), got \(1, 1, 2, 1\)"):
        upsample_max_unpool(pooled, indices[..., :1])
    with pytest.raises(ValueError, match="batch of images"):
        max_pool_with_indices(torch.rand(4, 4))


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
    bars, grid = fig.axes
    assert len(bars.patches) == 9 and [t.get_text() for t in bars.texts] == ["1", "1", "2", "1", "2", "1", "2", "1", "1"]
    assert len(grid.texts) == 49 and grid.get_xlabel() == "output column"
    plt.close(fig)
    open_before = plt.get_fignums()
    with pytest.raises(ValueError, match="1-D or 2-D maps"):
        show_overlap_counts({"3-D": overlap_count((2, 2, 2), 3, 2)})
    assert plt.get_fignums() == open_before  # no half-drawn figure left behind
