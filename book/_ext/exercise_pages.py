"""Show each exercise in the book as the student copy shows it: no solution, no verdict.

The lectures are committed with their solutions (the grader needs them), and the book
renders the committed notebooks. This transform rewrites each solution cell's code as
`aelib-student` does (the lines between the solution markers become
`raise NotImplementedError(...)`) and drops the outputs of every cell that may depend on a solution
(`aelib.instructor.student.solution_dependent`), so
that a page never shows a solution or an `Exercise N.k: correct` that the reader did not
earn. The notebooks themselves are not changed.
"""

from __future__ import annotations

from docutils import nodes
from nbformat import NotebookNode
from sphinx.application import Sphinx
from sphinx.transforms import SphinxTransform

from aelib.conventions import solution_of
from aelib.instructor.student import solution_dependent, strip_solutions


def _cells(document: nodes.Node):
    """Yield each code cell's container and its cell metadata, as myst-nb renders them."""
    for node in document.findall(nodes.container):
        if node.get("nb_element") == "cell_code":
            yield node, {"metadata": node.get("cell_metadata") or {}, "cell_type": "code"}


def _source(cell: nodes.Node) -> str:
    """Return a rendered code cell's source, the text of its input block."""
    for part in cell.findall(nodes.container):
        if part.get("nb_element") == "cell_code_source":
            return "".join(block.astext() for block in part.findall(nodes.literal_block))
    return ""


def hide_solutions(document: nodes.Node) -> int:
    """Strip a notebook page's solutions, and clear the outputs of every cell that may depend on one (as the
    student copy does: solution and check cells, and the cells that use what they made); return how many changed."""
    cells = list(_cells(document))
    as_cells = [NotebookNode({**as_cell, "source": _source(cell)}) for cell, as_cell in cells]
    changed = 0
    for (cell, as_cell), dependent in zip(cells, solution_dependent(as_cells), strict=True):
        solution = solution_of(as_cell)
        if not dependent:
            continue
        for part in list(cell.findall(nodes.container)):
            if part.get("nb_element") == "cell_code_output":
                part.parent.remove(part)
        if solution is not None:
            for block in list(cell.findall(nodes.literal_block)):
                block.rawsource = strip_solutions(block.astext(), solution)
                block.children = [nodes.Text(block.rawsource)]
        changed += 1
    return changed


class HideSolutions(SphinxTransform):
    """Run hide_solutions on every page read from a notebook."""

    default_priority = 400  # after myst-nb has rendered the cells, before anything reads their text

    def apply(self, **kwargs) -> None:
        hide_solutions(self.document)


def no_solved_downloads(app: Sphinx, config) -> None:
    """Offer no copy of the solved notebooks: no page sources, no download button.

    A page's download button and `_sources/` would otherwise serve the committed lecture,
    solutions included; students get their copy from the exercises page.
    """
    config.html_copy_source = False
    config.html_show_sourcelink = False
    config.html_theme_options = {**(config.html_theme_options or {}), "use_download_button": False}


def setup(app: Sphinx) -> dict[str, bool]:
    """Register the transform, and turn off the solved notebooks' downloads."""
    app.add_transform(HideSolutions)
    app.connect("config-inited", no_solved_downloads)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
