"""Colab readiness: every notebook's badge and setup cell agree with `_config.yml`'s repository.

The checks here parse the notebooks themselves (with `ast` and `yaml`), independently
of `aelib.instructor.colab`, which they then test: `aelib-repoint` must re-point a copy of the
course at a fork and back, byte for byte.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import nbformat
import pytest
import tomllib
import yaml
from packaging.requirements import Requirement

from aelib.instructor import colab

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted([*ROOT.glob("lectures/*.ipynb"), *ROOT.glob("student/*.ipynb")])
PAGES = sorted(ROOT.glob("book/**/*.md"))
KEPT_AS_COLAB_SHIPS = {"torch", "torchvision", "numpy", "matplotlib"}
COLAB_LINK = re.compile(r"https://colab\.research\.google\.com/github/[^)\s\"']+")
REINSTALL_FLAGS = {"-U", "--upgrade", "--force-reinstall", "-I", "--ignore-installed", "--upgrade-strategy"}
# What a recent Colab image preinstalls: installing aelib must keep every one of them.
COLAB_PREINSTALLED = {
    "torch": "2.6.0",
    "torchvision": "0.21.0",
    "numpy": "2.0.2",
    "matplotlib": "3.10.0",
    "ipywidgets": "7.7.1",
    "tqdm": "4.67.1",
    "scikit-learn": "1.6.1",
    "scipy": "1.14.1",
    "nbformat": "5.10.4",
    "mlxtend": "0.23.4",
}


def _repository(root: Path) -> tuple[str, str]:
    repo = yaml.safe_load((root / "_config.yml").read_text())["repository"]
    return repo["url"], repo["branch"]


def _expected_badge(url: str, branch: str, rel: str) -> str:
    slug = url.removeprefix("https://github.com/")
    return (
        "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        f"(https://colab.research.google.com/github/{slug}/blob/{branch}/{rel})"
    )


def _is_colab_guard(test: ast.expr) -> bool:
    """Return True for the test `"google.colab" in sys.modules`."""
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Constant)
        and test.left.value == "google.colab"
        and len(test.ops) == 1
        and isinstance(test.ops[0], ast.In)
        and ast.unparse(test.comparators[0]) == "sys.modules"
    )


def _pip_args(call: ast.Call) -> list[str]:
    """Return the string arguments of `subprocess.run([...])` (sys.executable shown as 'python')."""
    assert ast.unparse(call.func) == "subprocess.run", (
        f"the setup cell may only call subprocess.run, found {ast.unparse(call.func)}"
    )
    (argv,) = call.args
    assert isinstance(argv, ast.List), "subprocess.run must get a literal list of arguments"
    return ["python" if ast.unparse(a) == "sys.executable" else a.value for a in argv.elts]


def notebook_problems(path: Path, root: Path) -> list[str]:
    """Return what is wrong with the badge and setup cell of notebook `path` under `root`."""
    url, branch = _repository(root)
    rel = path.relative_to(root).as_posix()
    nb = nbformat.read(path, as_version=4)
    problems = []

    first = nb.cells[0]
    if first.cell_type != "markdown" or not first.source.startswith("# "):
        problems.append("the first cell must be Markdown starting with the '# ' title")
    elif _expected_badge(url, branch, rel) not in first.source:
        problems.append(f"the first cell lacks the badge {_expected_badge(url, branch, rel)}")
    links = set(COLAB_LINK.findall("\n".join(cell.source for cell in nb.cells)))
    stale = links - {_expected_badge(url, branch, rel).split("](")[-1].removesuffix(")")}
    if stale:
        problems.append(f"Colab links that point elsewhere: {sorted(stale)}")

    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    if not code or "colab-setup" not in code[0].metadata.get("tags", []):
        return problems + ["the first code cell must be the setup cell, tagged 'colab-setup'"]
    setup = code[0].source
    if "!pip" in setup or "%pip" in setup:
        problems.append("the setup cell must not use shell or magic pip: it would run outside Colab too")
    module = ast.parse(setup)
    guards = [node for node in module.body if isinstance(node, ast.If)]
    others = [node for node in module.body if not isinstance(node, (ast.If, ast.Import, ast.ImportFrom))]
    if len(guards) != 1 or others or not _is_colab_guard(guards[0].test) or guards[0].orelse:
        return problems + ['the setup cell must be imports plus one `if "google.colab" in sys.modules:` block']
    calls = [node for node in ast.walk(guards[0]) if isinstance(node, ast.Call)]
    if len(calls) != 1:
        return problems + [f"the Colab block must make exactly one call (pip install), found {len(calls)}"]
    args = _pip_args(calls[0])
    if args[:4] != ["python", "-m", "pip", "install"]:
        problems.append(f"the setup cell must run `python -m pip install`, runs {args}")
    requirements = [a for a in args[4:] if not a.startswith("-")]
    if requirements != [f"aelib @ git+{url}@{branch}"]:
        problems.append(f"the setup cell must install exactly 'aelib @ git+{url}@{branch}', installs {requirements}")
    if REINSTALL_FLAGS & set(args):
        problems.append(f"the setup cell must not force reinstalls: {sorted(REINSTALL_FLAGS & set(args))}")
    named = {Requirement(r).name.lower() for r in requirements} & KEPT_AS_COLAB_SHIPS
    if named:
        problems.append(f"the setup cell must not install {sorted(named)}: Colab ships them")
    return problems


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks under lectures/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_badge_and_setup_cell_agree_with_config(path):
    assert notebook_problems(path, ROOT) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_setup_cell_installs_on_colab_only(path, monkeypatch):
    setup = next(c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code").source
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda *args, **kwargs: calls.append((args, kwargs)))
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    exec(compile(setup, "setup cell", "exec"), {})
    assert calls == [], "outside Colab the setup cell must do nothing"

    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    exec(compile(setup, "setup cell", "exec"), {})
    url, branch = _repository(ROOT)
    assert len(calls) == 1
    (argv,), kwargs = calls[0]
    assert argv == [sys.executable, "-m", "pip", "install", "-q", f"aelib @ git+{url}@{branch}"]
    assert kwargs.get("check") is True, "a failed install must stop the notebook"


def test_installing_aelib_keeps_what_colab_preinstalls():
    declared = [Requirement(r) for r in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]]
    for requirement in declared:
        version = COLAB_PREINSTALLED.get(requirement.name.lower())
        assert version is None or requirement.specifier.contains(version), (
            f"{requirement} excludes Colab's {requirement.name} {version}: pip would replace it on Colab"
        )
    assert {r.name.lower() for r in declared} >= KEPT_AS_COLAB_SHIPS


def test_launch_buttons_use_config_repository():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    url, branch = _repository(ROOT)
    assert colab.read_repository(ROOT) == (url, branch)
    assert url.startswith("https://github.com/") and branch


def page_problems(path: Path, root: Path) -> list[str]:
    """Return the Colab links of book page `path` that open no existing notebook of `_config.yml`'s repository."""
    url, branch = _repository(root)
    prefix = f"https://colab.research.google.com/github/{url.removeprefix('https://github.com/')}/blob/{branch}/"
    return [
        link
        for link in COLAB_LINK.findall(path.read_text())
        if not link.startswith(prefix) or not (root / link.removeprefix(prefix)).is_file()
    ]


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_book_pages_link_colab_to_existing_notebooks(path):
    assert page_problems(path, ROOT) == []


def _course_copy(tmp_path: Path) -> Path:
    root = tmp_path / "course"
    (root / "lectures").mkdir(parents=True)
    shutil.copy(ROOT / "_config.yml", root / "_config.yml")
    for path in [*NOTEBOOKS, *PAGES]:
        (root / path.relative_to(ROOT)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, root / path.relative_to(ROOT))
    return root


def _snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_repoint_round_trips_on_a_copy(tmp_path):
    root = _course_copy(tmp_path)
    original = _snapshot(root)
    url, branch = _repository(root)

    assert colab.main(["https://github.com/someone/fork-of-course/", "--branch", "fix/colab", "--root", str(root)]) == 0
    assert _repository(root) == ("https://github.com/someone/fork-of-course", "fix/colab")
    for path in colab.notebooks(root):
        assert notebook_problems(path, root) == [], path.name
    for path in colab.pages(root):
        assert page_problems(path, root) == [], path.name
    before = yaml.safe_load(original["_config.yml"])
    after = yaml.safe_load((root / "_config.yml").read_text())
    assert {k: v for k, v in after.items() if k != "repository"} == {
        k: v for k, v in before.items() if k != "repository"
    }
    assert "# The one place that names the repository" in (root / "_config.yml").read_text(), "comments must survive"

    assert colab.main([url, "--branch", branch, "--root", str(root)]) == 0
    assert _snapshot(root) == original, "re-pointing back must restore every file byte for byte"


def test_repoint_cli_keeps_branch_by_default(tmp_path):
    root = _course_copy(tmp_path)
    _, branch = _repository(root)
    result = subprocess.run(
        [sys.executable, "-m", "aelib.instructor.colab", "https://github.com/someone/fork"],
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "updated _config.yml" in result.stdout
    assert _repository(root) == ("https://github.com/someone/fork", branch)
    assert all(notebook_problems(path, root) == [] for path in colab.notebooks(root))


def test_repoint_rejects_a_non_github_url_and_writes_nothing(tmp_path, capsys):
    root = _course_copy(tmp_path)
    original = _snapshot(root)
    assert colab.main(["https://gitlab.com/someone/fork", "--root", str(root)]) == 1
    assert "https://github.com/OWNER/REPO" in capsys.readouterr().err
    assert _snapshot(root) == original


def test_repoint_refuses_a_notebook_without_badge_and_writes_nothing(tmp_path):
    root = _course_copy(tmp_path)
    path = colab.notebooks(root)[0]
    nb = nbformat.read(path, as_version=4)
    nb.cells[0].source = "# A notebook whose badge was deleted"
    nbformat.write(nb, path)
    original = _snapshot(root)
    with pytest.raises(ValueError, match="no 'Open In Colab' badge"):
        colab.repoint("https://github.com/someone/fork", "main", root)
    assert _snapshot(root) == original


def test_colab_url_format():
    assert colab.colab_url("https://github.com/o/r.git", "b", "lectures/x.ipynb") == (
        "https://colab.research.google.com/github/o/r/blob/b/lectures/x.ipynb"
    )
    assert colab.install_spec("https://github.com/o/r/", "b") == "aelib @ git+https://github.com/o/r@b"
