"""Colab links from one place: `repository.url` and `repository.branch` in `_config.yml`.

Every notebook (lectures/ and the student copies in student/) opens with an "Open in
Colab" badge and a setup cell that installs aelib from the repository on Colab only;
book pages (book/*.md) link to notebooks on Colab too. `aelib-repoint URL [--branch B]`
re-points all of them, and `_config.yml` (which the book's launch buttons read), at a fork.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import nbformat

__all__ = [
    "NOTEBOOK_DIRS",
    "badge_markdown",
    "colab_url",
    "install_spec",
    "notebooks",
    "pages",
    "read_repository",
    "repoint",
    "main",
]

NOTEBOOK_DIRS = ("lectures", "student")
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
SETUP_TAG = "colab-setup"
_GITHUB_URL = re.compile(r"https://github\.com/(?P<owner>[A-Za-z0-9_.-]+)/(?P<repo>[A-Za-z0-9_.-]+)")
_BADGE = re.compile(
    r"\[!\[Open In Colab\]\(" + re.escape(BADGE_IMAGE) + r"\)\]\(https://colab\.research\.google\.com/github/[^)\s]+\)"
)
_SPEC = re.compile(r"aelib @ git\+[^\"'\s]+")
_REPO_BLOCK = re.compile(r"^repository:[ \t]*\n((?:[ \t]+.*\n|[ \t]*\n)*)", re.MULTILINE)


def _check_github_url(url: str) -> str:
    """Return `url` without a trailing slash or `.git`; raise if it is not https://github.com/OWNER/REPO."""
    url = url.strip().removesuffix("/").removesuffix(".git")
    if not _GITHUB_URL.fullmatch(url):
        raise ValueError(
            "expected a GitHub repository URL like https://github.com/OWNER/REPO (Colab opens notebooks from "
            f"GitHub), got {url!r}"
        )
    return url


def colab_url(url: str, branch: str, path: str) -> str:
    """Return the Colab link that opens notebook `path` (relative to the repository root) on `branch`."""
    slug = _check_github_url(url).removeprefix("https://github.com/")
    return f"https://colab.research.google.com/github/{slug}/blob/{branch}/{path}"


def badge_markdown(url: str, branch: str, path: str) -> str:
    """Return the Markdown "Open in Colab" badge for notebook `path`."""
    return f"[![Open In Colab]({BADGE_IMAGE})]({colab_url(url, branch, path)})"


def install_spec(url: str, branch: str) -> str:
    """Return the pip requirement that the setup cell installs on Colab: aelib from `url` at `branch`."""
    return f"aelib @ git+{_check_github_url(url)}@{branch}"


def _yaml_scalar(block: str, key: str) -> str | None:
    match = re.search(rf"^[ \t]+{key}:[ \t]*(?P<value>[^#\n]*?)[ \t]*(?:#.*)?$", block, re.MULTILINE)
    return match["value"].strip("\"'") if match else None


def read_repository(root: str | Path = ".") -> tuple[str, str]:
    """Return (url, branch) from the `repository:` section of `root/_config.yml`."""
    config = Path(root) / "_config.yml"
    block = _REPO_BLOCK.search(config.read_text(encoding="utf-8"))
    url = _yaml_scalar(block[1], "url") if block else None
    branch = _yaml_scalar(block[1], "branch") if block else None
    if not url or not branch:
        raise ValueError(f"{config} has no repository.url and repository.branch: add them under `repository:`")
    return url, branch


def _write_repository(root: Path, url: str, branch: str) -> bool:
    """Set repository.url and repository.branch in `root/_config.yml`, keeping its comments; True if it changed."""
    config = root / "_config.yml"
    text = config.read_text(encoding="utf-8")
    block = _REPO_BLOCK.search(text)
    if block is None or _yaml_scalar(block[1], "url") is None or _yaml_scalar(block[1], "branch") is None:
        raise ValueError(f"{config} has no repository.url and repository.branch: add them under `repository:`")
    new_block = block[1]
    for key, value in (("url", url), ("branch", branch)):
        new_block = re.sub(
            rf"^([ \t]+{key}:[ \t]*)[^#\n]*?([ \t]*(?:#.*)?)$",
            lambda m, value=value: f"{m[1]}{value}{m[2]}",
            new_block,
            count=1,
            flags=re.MULTILINE,
        )
    new_text = text[: block.start(1)] + new_block + text[block.end(1) :]
    if new_text == text:
        return False
    config.write_text(new_text, encoding="utf-8")
    return True


def notebooks(root: str | Path = ".") -> list[Path]:
    """Return every notebook that carries a badge and a setup cell: lectures/*.ipynb and student/*.ipynb."""
    root = Path(root)
    return sorted(path for folder in NOTEBOOK_DIRS for path in (root / folder).glob("*.ipynb"))


def pages(root: str | Path = ".") -> list[Path]:
    """Return the book's Markdown pages, which may link to notebooks on Colab: book/**/*.md."""
    return sorted((Path(root) / "book").rglob("*.md"))


def _repoint_page(path: Path, old: tuple[str, str], new: tuple[str, str]) -> bool:
    """Replace a page's Colab links and install specs for repository `old` (url, branch) by `new`; True if changed."""
    text = path.read_text(encoding="utf-8")
    new_text = text.replace(colab_url(*old, ""), colab_url(*new, "")).replace(install_spec(*old), install_spec(*new))
    if new_text == text:
        return False
    path.write_text(new_text, encoding="utf-8")
    return True


def _repointed(nb: nbformat.NotebookNode, path: str, url: str, branch: str) -> list[str]:
    """Re-point the badge and setup cell of notebook `path` (loaded as `nb`) in place; return what is missing."""
    badge_cells = [cell for cell in nb.cells if cell.cell_type == "markdown" and _BADGE.search(cell.source)]
    setup_cells = [cell for cell in nb.cells if cell.cell_type == "code" and SETUP_TAG in cell.metadata.get("tags", [])]
    missing = []
    if not badge_cells:
        missing.append(f"{path}: no 'Open In Colab' badge in a Markdown cell")
    if not setup_cells or not _SPEC.search(setup_cells[0].source):
        missing.append(f"{path}: no code cell tagged '{SETUP_TAG}' that installs 'aelib @ git+...'")
    for cell in badge_cells:
        cell.source = _BADGE.sub(lambda _: badge_markdown(url, branch, path), cell.source)
    for cell in setup_cells:
        cell.source = _SPEC.sub(lambda _: install_spec(url, branch), cell.source)
    return missing


def repoint(url: str, branch: str, root: str | Path = ".") -> list[Path]:
    """Point `_config.yml`, every badge, setup cell and book page's Colab link under `root` at `url` and `branch`.

    Nothing is written unless every notebook has its badge and its setup cell.
    Returns the files that changed.
    """
    root = Path(root)
    url = _check_github_url(url)
    if not branch or any(c.isspace() for c in branch):
        raise ValueError(f"branch must be a non-empty name without spaces, got {branch!r}")
    old = read_repository(root)  # fails early, naming the file, if _config.yml lacks the section
    updated, missing = [], []
    for path in notebooks(root):
        rel = path.relative_to(root).as_posix()
        nb = nbformat.read(path, as_version=4)
        before = nbformat.writes(nb)
        missing += _repointed(nb, rel, url, branch)
        if nbformat.writes(nb) != before:
            updated.append((path, nb))
    if missing:
        raise ValueError("cannot re-point these notebooks:\n  " + "\n  ".join(missing))
    for path, nb in updated:
        nbformat.write(nb, path)
    changed = [path for path, _ in updated]
    changed += [path for path in pages(root) if _repoint_page(path, old, (url, branch))]
    if _write_repository(root, url, branch):
        changed.insert(0, root / "_config.yml")
    return changed


def _find_root(start: Path) -> Path:
    for folder in (start, *start.parents):
        if (folder / "_config.yml").is_file() and (folder / "lectures").is_dir():
            return folder
    raise SystemExit(f"no course repository (a folder with _config.yml and lectures/) at or above {start}: pass --root")


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: `aelib-repoint URL [--branch B] [--root DIR]`."""
    parser = argparse.ArgumentParser(
        prog="aelib-repoint",
        description=(
            "Point every Colab badge, setup cell and the book's launch buttons at a repository (e.g. your fork)."
        ),
    )
    parser.add_argument("url", help="GitHub repository URL, e.g. https://github.com/you/autoencoders")
    parser.add_argument("--branch", help="branch to open and install from (default: the branch in _config.yml)")
    parser.add_argument("--root", type=Path, help="course repository root (default: found from the current folder)")
    args = parser.parse_args(argv)
    root = args.root if args.root is not None else _find_root(Path.cwd())
    branch = args.branch or read_repository(root)[1]
    try:
        changed = repoint(args.url, branch, root)
    except ValueError as err:
        print(f"aelib-repoint: {err}", file=sys.stderr)
        return 1
    for path in changed:
        print(f"updated {path.relative_to(root).as_posix()}")
    print(
        f"{len(notebooks(root))} notebooks and _config.yml point at {_check_github_url(args.url)} (branch "
        f"{branch}); rebuild the book to update its launch buttons"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
