"""The convolution explorer: its sizes, its drawing, and widgets that ipywidgets 7 and 8 both have."""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import pytest

from aelib.explorer import EXPLORER_SLIDERS, conv_explorer, describe_sizes, draw_conv_arithmetic
from aelib.upsampling import overlap_count

BOTH_VERSIONS = (widgets.IntSlider, widgets.HTML, widgets.Output, widgets.VBox, widgets.HBox)


def walk(widget: widgets.Widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from walk(child)


def test_describe_sizes_fills_in_both_formulas() -> None:
    text = describe_sizes(7, 3, 2, 1, 1, 1)
    assert "= <b>4</b>" in text and "= <b>14</b>" in text
    assert "(7 &minus; 1)&middot;2 &minus; 2&middot;1" in text


def test_describe_sizes_says_why_pytorch_refuses() -> None:
    text = describe_sizes(3, 5, 1, 0, 2, 1)
    assert text.count("PyTorch refuses") == 2
    assert "kernel does not fit" in text and "output_padding must be smaller" in text


def test_drawing_shows_every_tap_and_the_overlap_counts() -> None:
    fig = draw_conv_arithmetic(7, 3, 2, 1, 1, 1)
    ax_conv, ax_t = fig.axes
    assert ax_conv.get_title().endswith("=> output 4") and ax_t.get_title().endswith("=> output 14")
    markers = [line for line in ax_conv.lines if line.get_marker() == "s"]
    assert len(markers) == 4 and all(len(line.get_xdata()) == 3 for line in markers)
    assert [line.get_xdata().tolist() for line in markers][1] == [1, 2, 3]  # output 1 starts at 1*2 - 1
    cells = [t.get_text() for t in ax_t.texts if t.get_position()[1] == 0]  # one per position before cropping
    kept = [label.get_text() for label in ax_t.get_xticklabels()]
    counts = [int(c) for c, k in zip(cells, kept) if k]
    assert counts == overlap_count(7, 3, 2, 1, 1).tolist()
    assert [k for k in kept if k] == [str(i) for i in range(14)]
    assert all(ax.get_xlabel() for ax in fig.axes) and fig.get_suptitle()
    plt.close(fig)


def test_drawing_of_refused_parameters_says_so() -> None:
    fig = draw_conv_arithmetic(3, 5, 1, 0, 2, 1)
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert len(texts) == 2 and all(t.startswith("PyTorch refuses these parameters") for t in texts)
    plt.close(fig)


def test_explorer_has_one_slider_per_parameter_and_only_portable_widgets() -> None:
    box = conv_explorer()
    parts = list(walk(box))
    assert all(isinstance(w, BOTH_VERSIONS) for w in parts)
    sliders = {w.description: w for w in parts if isinstance(w, widgets.IntSlider)}
    assert {name: (s.min, s.max, s.value) for name, s in sliders.items()} == EXPLORER_SLIDERS
    assert sum(isinstance(w, widgets.Output) for w in parts) == 1


def test_explorer_updates_the_sizes_when_a_slider_moves(capsys) -> None:
    open_before = plt.get_fignums()
    box = conv_explorer(size=5)
    parts = list(walk(box))
    sliders = {w.description: w for w in parts if isinstance(w, widgets.IntSlider)}
    (sizes,) = [w for w in parts if isinstance(w, widgets.HTML)]
    assert sliders["size"].value == 5 and "= <b>3</b>" in sizes.value and "= <b>10</b>" in sizes.value
    sliders["stride"].value = 3
    assert "= <b>2</b>" in sizes.value and "= <b>14</b>" in sizes.value  # conv 4 // 3 + 1; transposed 12 - 2 + 2 + 1 + 1
    sliders["output_padding"].value = 3
    assert "output_padding must be smaller" in sizes.value
    assert plt.get_fignums() == open_before  # every drawing is closed after it is shown
    capsys.readouterr()


def test_explorer_text_is_harmless_where_widgets_cannot_run() -> None:
    box = conv_explorer()
    assert repr(box) == "Convolution explorer (interactive: run the notebook to move the sliders)"
    bundle = box._repr_mimebundle_() if hasattr(box, "_repr_mimebundle_") else {"text/plain": repr(box)}
    assert bundle["text/plain"] == repr(box)


def test_explorer_rejects_unknown_sliders() -> None:
    with pytest.raises(ValueError, match=r"unknown slider\(s\) \['kernel'\]"):
        conv_explorer(kernel=3)
