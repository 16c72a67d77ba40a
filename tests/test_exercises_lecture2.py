"""Lecture 2's exercise checks: the reference solutions pass; wrong and raising ones get "not yet"."""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from torch import nn

from aelib.exercises import lecture2 as ex


def verdict(capsys, check, answer) -> str:
    check(answer)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    return lines[0]


# Reference solutions, as in the notebook.
def bed_of_nails(x, scale_factor):
    kernel = x.new_zeros(1, 1, scale_factor, scale_factor)
    kernel[0, 0, 0, 0] = 1
    b, c, h, w = x.shape
    y = F.conv_transpose2d(x.reshape(b * c, 1, h, w), kernel, stride=scale_factor)  # (B*C, 1, sH, sW)
    return y.reshape(b, c, h * scale_factor, w * scale_factor)


def input_sizes(output_size, kernel_size, stride=1, padding=0, dilation=1):
    smallest = (output_size - 1) * stride - 2 * padding + dilation * (kernel_size - 1) + 1
    return [n for n in range(smallest, smallest + stride) if n >= 1]


def transpose_padding(in_size, out_size, kernel_size, stride):
    excess = (in_size - 1) * stride + kernel_size - out_size  # = 2 * padding - output_padding
    for output_padding in range(stride):
        if excess + output_padding >= 0 and (excess + output_padding) % 2 == 0:
            return (excess + output_padding) // 2, output_padding
    raise ValueError(f"no padding takes {in_size} to {out_size}")


class ResizeConv2d(nn.Module):
    def __init__(self, in_channels, out_channels, scale_factor=2):
        super().__init__()
        self.up = nn.Upsample(scale_factor=scale_factor, mode="nearest")
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)

    def forward(self, x):
        return self.conv(self.up(x))


def transposed_conv(x, weight, stride=1, padding=0):
    b, c_in, h, w = x.shape
    _, c_out, kh, kw = weight.shape
    full = x.new_zeros(b, c_out, (h - 1) * stride + kh, (w - 1) * stride + kw)
    for i in range(h):
        for j in range(w):
            stamp = (x[:, :, i, j, None, None, None] * weight).sum(dim=1)  # (B, C_out, kH, kW)
            full[:, :, i * stride : i * stride + kh, j * stride : j * stride + kw] += stamp
    return full[:, :, padding : full.shape[2] - padding, padding : full.shape[3] - padding]


def mistaken(
    *,
    flip=(),
    crop=True,
    one_side=False,
    swap_channels=False,
    overwrite=False,
    first_image_only=False,
    first_channel_only=False,
):
    """A stamp-and-add loop with one typical mistake switched on."""

    def answer(x, weight, stride=1, padding=0):
        if flip:
            weight = weight.flip(flip)
        if swap_channels:
            weight = weight.transpose(0, 1)
        b, c_in, h, w = x.shape
        c_out, kh, kw = weight.shape[1:]
        full = x.new_zeros(b, c_out, (h - 1) * stride + kh, (w - 1) * stride + kw)
        for n in range(1 if first_image_only else b):
            for i in range(h):
                for j in range(w):
                    for c in range(1 if first_channel_only else c_in):
                        stamp = x[n, c, i, j] * weight[c]  # (C_out, kH, kW)
                        window = (
                            n,
                            slice(None),
                            slice(i * stride, i * stride + kh),
                            slice(j * stride, j * stride + kw),
                        )
                        if overwrite:
                            full[window] = stamp
                        else:
                            full[window] += stamp
        if not crop or padding == 0:
            return full
        if one_side:
            return full[:, :, : -2 * padding, : -2 * padding]
        return full[:, :, padding:-padding, padding:-padding]

    return answer


def not_implemented(*args, **kwargs):
    raise NotImplementedError("replace this line with your solution")


def test_reference_solutions_pass(capsys) -> None:
    assert verdict(capsys, ex.check_bed_of_nails, bed_of_nails) == "Exercise 2.1: correct"
    assert verdict(capsys, ex.check_input_sizes, input_sizes) == "Exercise 2.2: correct"
    assert verdict(capsys, ex.check_transpose_padding, transpose_padding) == "Exercise 2.3: correct"
    assert verdict(capsys, ex.check_resize_conv, ResizeConv2d) == "Exercise 2.4: correct"
    assert verdict(capsys, ex.check_transposed_conv, transposed_conv) == "Exercise 2.5: correct"


def test_other_correct_answers_pass(capsys) -> None:
    def bed_by_indexing(x, s):
        out = torch.zeros(x.shape[0], x.shape[1], x.shape[2] * s, x.shape[3] * s)
        out[..., ::s, ::s] = x
        return out

    def largest_padding(in_size, out_size, kernel_size, stride):
        excess = (in_size - 1) * stride + kernel_size - out_size
        for op in reversed(range(stride)):
            if excess + op >= 0 and (excess + op) % 2 == 0:
                return (excess + op) // 2, op
        raise ValueError("impossible")

    class BilinearConv(nn.Module):
        def __init__(self, c_in, c_out, scale):
            super().__init__()
            self.scale = scale
            self.conv = nn.Conv2d(c_in, c_out, 5, padding=2)

        def forward(self, x):
            return torch.relu(self.conv(F.interpolate(x, scale_factor=self.scale, mode="bilinear")))

    assert verdict(capsys, ex.check_bed_of_nails, bed_by_indexing).endswith("correct")

    def by_search(o, k, s, p, d):  # try every input size the formula allows
        return tuple(
            n for n in range(1, 500) if n + 2 * p >= d * (k - 1) + 1 and (n + 2 * p - d * (k - 1) - 1) // s + 1 == o
        )

    assert verdict(capsys, ex.check_input_sizes, by_search).endswith("correct")
    assert verdict(capsys, ex.check_transpose_padding, largest_padding).endswith("correct")
    assert verdict(capsys, ex.check_resize_conv, BilinearConv).endswith("correct")


def test_wrong_solutions_get_a_hint(capsys) -> None:
    nearest = lambda x, s: F.interpolate(x, scale_factor=s, mode="nearest")  # noqa: E731
    out = verdict(capsys, ex.check_bed_of_nails, nearest)
    assert out.startswith("Exercise 2.1: not yet (wrong values") and "top-left" in out
    out = verdict(capsys, ex.check_bed_of_nails, lambda x, s: x.repeat(1, 1, s, 1))
    assert "should be (1, 1, 4, 4), got (1, 1, 4, 2)" in out

    only_smallest = lambda o, k, s, p, d: input_sizes(o, k, s, p, d)[:1]  # noqa: E731  (forgets the floor)
    out = verdict(capsys, ex.check_input_sizes, only_smallest)
    assert out == (
        "Exercise 2.2: not yet (for output_size=14, kernel_size=3, stride=2, padding=1, dilation=1 an input of size 28 "
        "also gives 14 outputs, but it is not in your list)"
    )
    no_dilation = lambda o, k, s, p, d: input_sizes(o, k, s, p, 1)  # noqa: E731
    out = verdict(capsys, ex.check_input_sizes, no_dilation)
    assert out == (
        "Exercise 2.2: not yet (for output_size=4, kernel_size=3, stride=2, padding=1, dilation=2 an input of size 7 "
        "gives 3 outputs, not 4)"
    )
    assert "your list repeats a size" in verdict(
        capsys, ex.check_input_sizes, lambda o, k, s, p, d: input_sizes(o, k, s, p, d) * 2
    )
    assert "return a list of input sizes" in verdict(capsys, ex.check_input_sizes, lambda o, k, s, p, d: 27)

    out = verdict(capsys, ex.check_transpose_padding, lambda n, m, k, s: (1, 1))
    assert out.startswith("Exercise 2.3: not yet (for in_size=1, out_size=7") and "PyTorch rejects" in out
    out = verdict(capsys, ex.check_transpose_padding, lambda n, m, k, s: (0, 0))
    assert "give an output of size 15, not 14" in out
    never_raises = lambda n, m, k, s: transpose_padding(n, m, k, s) if (n, m, k, s) != (4, 20, 3, 2) else (0, 0)  # noqa: E731
    assert "raise ValueError when there is no solution" in verdict(capsys, ex.check_transpose_padding, never_raises)
    assert "tuple of two ints" in verdict(capsys, ex.check_transpose_padding, lambda n, m, k, s: [1, 1])

    class Deconv(nn.Module):  # the checkerboard-prone layer
        def __init__(self, c_in, c_out, scale):
            super().__init__()
            self.conv = nn.ConvTranspose2d(c_in, c_out, scale + 1, stride=scale, padding=1, output_padding=scale - 1)

        def forward(self, x):
            return self.conv(x)

    class FixedUpsample(nn.Module):
        def __init__(self, c_in, c_out, scale):
            super().__init__()
            self.up = nn.Upsample(scale_factor=scale)

        def forward(self, x):
            return self.up(x)

    out = verdict(capsys, ex.check_resize_conv, Deconv)
    assert out.startswith("Exercise 2.4: not yet (a constant image comes out with a pattern")
    assert "no trainable parameters" in verdict(capsys, ex.check_resize_conv, FixedUpsample)


def test_raising_solutions_get_not_yet(capsys) -> None:
    for check in (
        ex.check_bed_of_nails,
        ex.check_input_sizes,
        ex.check_transpose_padding,
        ex.check_resize_conv,
        ex.check_transposed_conv,
    ):
        out = verdict(capsys, check, not_implemented)
        assert out.endswith(
            "not yet (not implemented yet: replace the `raise NotImplementedError` line with your code)"
        )
    out = verdict(capsys, ex.check_bed_of_nails, lambda x, s: x[5])
    assert out.startswith("Exercise 2.1: not yet (your code raised IndexError")


def test_checks_do_not_change_global_randomness(capsys) -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    verdict(capsys, ex.check_bed_of_nails, bed_of_nails)
    verdict(capsys, ex.check_resize_conv, ResizeConv2d)
    assert torch.equal(torch.rand(3), expected)


def test_transposed_conv_other_correct_loops_pass(capsys) -> None:
    assert (
        verdict(capsys, ex.check_transposed_conv, mistaken()) == "Exercise 2.5: correct"
    )  # one image, one channel at a time

    def via_bed_of_nails(x, weight, stride=1, padding=0):  # section 4's equivalence, written with conv2d
        b, c, h, w = x.shape
        spread = x.new_zeros(b, c, (h - 1) * stride + 1, (w - 1) * stride + 1)
        spread[..., ::stride, ::stride] = x
        kh, kw = weight.shape[-2:]
        y = F.conv2d(spread, weight.transpose(0, 1).flip(-2, -1), padding=(kh - 1, kw - 1))
        return y[..., padding : y.shape[-2] - padding, padding : y.shape[-1] - padding]

    assert verdict(capsys, ex.check_transposed_conv, via_bed_of_nails) == "Exercise 2.5: correct"

    def in_float32(x, weight, stride=1, padding=0):  # a float32 output buffer rounds the float64 inputs
        return transposed_conv(x.float(), weight.float(), stride, padding)

    assert verdict(capsys, ex.check_transposed_conv, in_float32) == "Exercise 2.5: correct"


def test_transposed_conv_mistakes_are_named(capsys) -> None:
    def says(answer, *fragments):
        out = verdict(capsys, ex.check_transposed_conv, answer)
        assert out.startswith("Exercise 2.5: not yet (") and all(f in out for f in fragments), out

    says(mistaken(flip=(-2, -1)), "kernel is flipped both ways")
    says(mistaken(flip=(-1,)), "kernel is flipped left to right")
    says(mistaken(crop=False), "the size before cropping", "padding=1")
    says(mistaken(one_side=True), "cropped from one side only")
    says(mistaken(swap_channels=True), "channels are mixed up", "(in_channels, out_channels, kH, kW)")
    says(mistaken(overwrite=True), "wrong where stamps overlap", "+=")
    says(mistaken(first_image_only=True), "first image of the batch is right")
    says(mistaken(first_channel_only=True), "only input channel 0 contributes")
    says(
        lambda x, weight, stride, padding: transposed_conv(x, weight, 1, padding),  # ignores the stride
        "stride=2, padding=0 the output should be (1, 1, 7, 7), got (1, 1, 5, 5)",
        "(n - 1) * stride + kernel_size - 2 * padding",
    )
    says(
        lambda x, weight, stride, padding: transposed_conv(x, weight.transpose(-2, -1), stride, padding),
        "rows and columns are swapped",
    )
    says(
        lambda x, weight, stride, padding: transposed_conv(x, weight, stride, padding) + 0.5,
        "wrong values for x (1, 1, 2, 2)",
    )
    says(
        lambda x, weight, stride, padding: F.conv_transpose2d(x, weight, stride=stride, padding=padding),
        "your code calls torch.nn.functional.conv_transpose2d, which this exercise asks you to write yourself",
    )
    says(
        lambda x, weight, stride, padding: torch.nn.functional.conv_transpose2d(
            x, weight, stride=stride, padding=padding
        ),
        "your code calls torch.nn.functional.conv_transpose2d",
    )

    def in_place(x, weight, stride, padding):
        out = transposed_conv(x, weight, stride, padding)
        x.zero_()
        return out

    says(in_place, "changed x or weight in place")
    says(
        lambda x, weight, stride, padding: transposed_conv(x, weight, stride, padding).tolist(),
        "return a tensor, got list",
    )


def test_transposed_conv_check_is_quick_and_leaves_pytorch_intact(capsys) -> None:
    started = time.perf_counter()
    verdict(
        capsys, ex.check_transposed_conv, mistaken()
    )  # the slowest loop: one image, one channel, one pixel at a time
    assert time.perf_counter() - started < 10
    verdict(capsys, ex.check_transposed_conv, not_implemented)
    x, weight = torch.ones(1, 1, 2, 2), torch.ones(1, 1, 2, 2)
    assert F.conv_transpose2d(x, weight).sum() == torch.conv_transpose2d(x, weight).sum() == 16
