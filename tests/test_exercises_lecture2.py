"""Lecture 2's exercise checks: the reference solutions pass; wrong and raising ones get "not yet"."""

from __future__ import annotations

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


def not_implemented(*args, **kwargs):
    raise NotImplementedError("replace this line with your solution")


def test_reference_solutions_pass(capsys) -> None:
    assert verdict(capsys, ex.check_bed_of_nails, bed_of_nails) == "Exercise 2.1: correct"
    assert verdict(capsys, ex.check_input_sizes, input_sizes) == "Exercise 2.2: correct"
    assert verdict(capsys, ex.check_transpose_padding, transpose_padding) == "Exercise 2.3: correct"
    assert verdict(capsys, ex.check_resize_conv, ResizeConv2d) == "Exercise 2.4: correct"


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
        return tuple(n for n in range(1, 500) if n + 2 * p >= d * (k - 1) + 1 and (n + 2 * p - d * (k - 1) - 1) // s + 1 == o)

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
    assert out == ("Exercise 2.2: not yet (for output_size=14, kernel_size=3, stride=2, padding=1, dilation=1 an input of size 28 "
                   "also gives 14 outputs, but it is not in your list)")
    no_dilation = lambda o, k, s, p, d: input_sizes(o, k, s, p, 1)  # noqa: E731
    out = verdict(capsys, ex.check_input_sizes, no_dilation)
    assert out == ("Exercise 2.2: not yet (for output_size=4, kernel_size=3, stride=2, padding=1, dilation=2 an input of size 7 "
                   "gives 3 outputs, not 4)")
    assert "your list repeats a size" in verdict(capsys, ex.check_input_sizes, lambda o, k, s, p, d: input_sizes(o, k, s, p, d) * 2)
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
    for check in (ex.check_bed_of_nails, ex.check_input_sizes, ex.check_transpose_padding, ex.check_resize_conv):
        out = verdict(capsys, check, not_implemented)
        assert out.endswith("not yet (not implemented yet: replace the `raise NotImplementedError` line with your code)")
    out = verdict(capsys, ex.check_bed_of_nails, lambda x, s: x[5])
    assert out.startswith("Exercise 2.1: not yet (your code raised IndexError")


def test_checks_do_not_change_global_randomness(capsys) -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    verdict(capsys, ex.check_bed_of_nails, bed_of_nails)
    verdict(capsys, ex.check_resize_conv, ResizeConv2d)
    assert torch.equal(torch.rand(3), expected)
