"""The convolution explorer: the sizes it states, the pairs of positions it draws, and sliders that drive both."""

from __future__ import annotations

import inspect
import itertools
import random

import ipywidgets as widgets
import matplotlib.pyplot as plt
import pytest
import torch
import torch.nn.functional as F

from aelib.explorer import EXPLORER_SLIDERS, conv_explorer, describe_sizes, draw_conv_arithmetic
from aelib.upsampling import overlap_count

BOTH_VERSIONS = (widgets.IntSlider, widgets.HTML, widgets.Output, widgets.VBox, widgets.HBox)


def walk(widget: widgets.Widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from walk(child)


def parts_of(box: widgets.Widget) -> tuple[dict[str, widgets.IntSlider], widgets.HTML]:
    parts = list(walk(box))
    (sizes,) = [w for w in parts if isinstance(w, widgets.HTML)]
    return {w.description: w for w in parts if isinstance(w, widgets.IntSlider)}, sizes


def pytorch_round_trip(n: int, k: int, s: int, p: int, op: int, d: int) -> tuple[int | None, int | None]:
    """Run F.conv1d on size n, then F.conv_transpose1d on its output; None where PyTorch refuses."""
    try:
        y = F.conv1d(torch.zeros(1, 1, n), torch.zeros(1, 1, k), stride=s, padding=p, dilation=d)
    except RuntimeError:
        return None, None
    try:
        z = F.conv_transpose1d(y, torch.zeros(1, 1, k), stride=s, padding=p, output_padding=op, dilation=d)
    except RuntimeError:
        return y.shape[-1], None
    return y.shape[-1], (z.shape[-1] or None)


def connections(ax: plt.Axes, downward_from_input: bool) -> set[tuple[float, float]]:
    """(position read or written, centre of the conv output / transposed input) for every line drawn."""
    pairs = set()
    for line in ax.lines:
        (x_top, x_bottom) = line.get_xdata()
        pairs.add((x_top, x_bottom) if downward_from_input else (x_bottom, x_top))
    return pairs


def test_describe_sizes_states_the_round_trip_14_7_14() -> None:
    text = describe_sizes(14, 3, 2, 1, 1, 1)
    assert "(14 + 2&middot;1 &minus; 1&middot;(3 &minus; 1) &minus; 1) / 2&rfloor; + 1 = <b>7</b>" in text
    assert "(7 &minus; 1)&middot;2 &minus; 2&middot;1 + 1&middot;(3 &minus; 1) + 1 + 1 = <b>14</b>" in text
    assert "input size 14 again" in text
    assert "= <b>13</b>, not the convolution's input size 14: output_padding=1 gives it back" in describe_sizes(
        14, 3, 2, 1, 0, 1
    )


def test_describe_sizes_says_why_pytorch_refuses() -> None:
    assert "PyTorch refuses</i>: the kernel does not fit" in describe_sizes(3, 5, 1, 0, 2, 1)
    text = describe_sizes(14, 3, 2, 1, 3, 1)
    assert "= <b>7</b>" in text and "PyTorch refuses</i>: output_padding must be smaller" in text


def test_sizes_agree_with_pytorch_across_every_slider_setting() -> None:
    names = list(inspect.signature(describe_sizes).parameters)
    ranges = [range(EXPLORER_SLIDERS[name][0], EXPLORER_SLIDERS[name][1] + 1) for name in names]
    for n, k, s, p, op, d in itertools.product(*ranges):
        conv, transposed = pytorch_round_trip(n, k, s, p, op, d)
        text = describe_sizes(n, k, s, p, op, d)
        if conv is None:
            assert "Conv2d</code> on size" in text and "PyTorch refuses" in text
            continue
        assert f"= <b>{conv}</b>" in text, (n, k, s, p, op, d)
        if transposed is None:
            assert text.count("PyTorch refuses") == 1, (n, k, s, p, op, d)
        else:
            assert f"= <b>{transposed}</b>, " in text, (n, k, s, p, op, d)
            if transposed != n:  # the output_padding the text suggests really gives the input size back
                fix = int(text.split("output_padding=")[-1].split(" ")[0])
                assert pytorch_round_trip(n, k, s, p, fix, d)[1] == n, (n, k, s, p, op, d)


def test_drawing_pairs_the_convolution_with_its_transpose() -> None:
    fig = draw_conv_arithmetic()  # lecture 3's layers: 14 => 7 => 14
    ax_conv, ax_t = fig.axes
    assert ax_conv.get_title().endswith(": 14 => 7") and ": 7 => 14," in ax_t.get_title()
    read = connections(ax_conv, downward_from_input=True)
    assert len(read) == 7 * 3
    assert {x for x, centre in read if centre == 1 * 2 - 1 + 1} == {
        1,
        2,
        3,
    }  # conv output 1 reads input positions 1, 2, 3
    assert connections(ax_t, downward_from_input=False) == read  # the transpose connects the same pairs
    counts = [int(t.get_text()) for t in ax_t.texts if t.get_position()[1] == 0 and t.get_text().isdigit()]
    assert counts[1:] == overlap_count(7, 3, 2, 1, 1).tolist()  # the first cell is cropped by the padding
    assert all(ax.get_xlabel() for ax in fig.axes) and fig.get_suptitle()
    plt.close(fig)


@pytest.mark.parametrize("seed", range(12))
def test_drawing_connects_the_same_pairs_for_random_settings(seed: int) -> None:
    rng = random.Random(seed)
    n, k, s, p, d = (
        rng.randint(*EXPLORER_SLIDERS[name][:2]) for name in ("size", "kernel_size", "stride", "padding", "dilation")
    )
    conv, _ = pytorch_round_trip(n, k, s, p, 0, d)
    fig = draw_conv_arithmetic(n, k, s, p, 0, d)
    ax_conv, ax_t = fig.axes
    if conv is None:
        assert not ax_conv.lines and "PyTorch refuses" in ax_conv.texts[0].get_text()
    else:
        read = connections(ax_conv, downward_from_input=True)
        assert len(read) == conv * k
        if ax_t.lines:
            assert connections(ax_t, downward_from_input=False) == read
    plt.close(fig)


def test_drawing_of_refused_parameters_says_so() -> None:
    fig = draw_conv_arithmetic(3, 5, 1, 0, 2, 1)
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert len(texts) == 2 and all(t.startswith("PyTorch refuses these parameters") for t in texts)
    plt.close(fig)


def test_explorer_starts_at_the_drawing_defaults_with_portable_widgets() -> None:
    box = conv_explorer()
    assert all(isinstance(w, BOTH_VERSIONS) for w in walk(box))
    assert sum(isinstance(w, widgets.Output) for w in walk(box)) == 1
    sliders, sizes = parts_of(box)
    defaults = {name: q.default for name, q in inspect.signature(draw_conv_arithmetic).parameters.items()}
    assert {name: s.value for name, s in sliders.items()} == defaults  # the sliders start where the static drawing does
    assert all(s.min <= s.value <= s.max for s in sliders.values())
    assert sizes.value == describe_sizes(**defaults)


def test_explorer_updates_the_sizes_and_the_drawing_when_a_slider_moves(capsys) -> None:
    open_before = plt.get_fignums()
    sliders, sizes = parts_of(conv_explorer(size=5))
    assert "= <b>3</b>" in sizes.value and "= <b>6</b>, not the convolution's input size 5" in sizes.value
    capsys.readouterr()
    sliders["stride"].value = 3
    assert (
        "/ 3&rfloor; + 1 = <b>2</b>" in sizes.value
        and "= <b>5</b>, the convolution's input size 5 again" in sizes.value
    )
    assert "Figure" in capsys.readouterr().out  # a new drawing was displayed (as text outside a notebook)
    sliders["output_padding"].value = 3
    assert "output_padding must be smaller" in sizes.value
    assert plt.get_fignums() == open_before  # every drawing is closed after it is shown
    capsys.readouterr()


def test_explorer_text_is_harmless_where_widgets_cannot_run() -> None:
    text = repr(conv_explorer())
    assert "run the notebook" in text and "children" not in text and "VBox" not in text


def test_explorer_rejects_unknown_sliders() -> None:
    with pytest.raises(ValueError, match=r"unknown slider\(s\) \['kernel'\]"):
        conv_explorer(kernel=3)
