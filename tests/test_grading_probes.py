"""Probes and judges, in this process: every lecture's solutions are judged right, its stubs not implemented,
typical mistakes get their hint, and the model spec rebuilds only what it should.

A probe runs here as it does in a student's kernel (`run_probe` saves the answers into a
folder), and the grader's side loads and judges them, as `aelib-grade` does after a run.
"""

from __future__ import annotations

import io
import os
import secrets
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import torch
from torch import nn

from aelib.conventions import exercise_of, solution_of
from aelib.exercises import definition, layer_spec
from aelib.exercises import model_transfer as layers
from aelib.instructor import probes
from aelib.instructor.judging import collect_answers, judge_probe
from aelib.instructor.student import strip_solutions
from aelib.instructor.submission import load_references

ROOT = Path(__file__).resolve().parents[1]
LECTURES = sorted((ROOT / "lectures").glob("*.ipynb"))
PRELUDE = (
    "import numpy as np\nimport torch\nimport torch.nn.functional as F\nfrom torch import nn\nimport "
    "aelib\nfrom sklearn.metrics import roc_auc_score\n"
)
TRAINED_ELSEWHERE = {"3.4"}  # its object is trained by the lecture, not defined by the solution: tested below


def _exercises() -> list[tuple[Path, str]]:
    found = []
    for path in LECTURES:
        for cell in nbformat.read(path, as_version=4).cells:
            if exercise_of(cell) and cell.cell_type == "code" and exercise_of(cell) not in TRAINED_ELSEWHERE:
                found.append((path, exercise_of(cell)))
    return found


def _namespace(path: Path, stubs: bool) -> dict:
    """Run a lecture's solution cells (or their student stubs) after the usual imports; return the names they define."""
    namespace: dict = {}
    exec(PRELUDE, namespace)
    for cell in nbformat.read(path, as_version=4).cells:
        if solution_of(cell):
            exec(strip_solutions(cell.source, solution_of(cell)) if stubs else cell.source, namespace)
    return namespace


def _judge(tmp_path: Path, exercise: str, objects: tuple, seed: int | None = None) -> tuple[bool, str]:
    """Probe `objects` as the probe cell would, then load and judge the answers as the grader does."""
    seed = secrets.randbelow(2**31) if seed is None else seed
    folder = tmp_path / f"answers-{exercise}-{seed}"
    probes.run_probe(exercise, seed, str(folder), lambda: objects)
    answer = collect_answers(str(folder), [exercise]).get(exercise)
    return judge_probe(exercise, seed, answer, None, timeout=1, memory="4 GiB", stopped="")


def _objects(path: Path, exercise: str, namespace: dict) -> tuple:
    check = next(
        c
        for ref in load_references(path.parent)[0].values()
        for c in ref.checks
        if c.exercise == exercise and ref.path == path
    )
    return tuple(eval(expression, namespace) for expression in check.objects)


def test_every_lecture_check_has_a_probe_and_a_judge():
    references, problems = load_references(ROOT / "lectures")
    assert problems == []
    exercises = [c.exercise for ref in references.values() for c in ref.checks]
    assert exercises and all(definition(e) is not None for e in exercises)


def test_each_check_cell_runs_the_definition_the_grader_judges_with():
    """The self-check a check cell calls and the grader's probe and judge are one exercise definition."""
    import importlib
    import re

    references, _ = load_references(ROOT / "lectures")
    for ref in references.values():
        for check in ref.checks:
            name = re.search(r"\bex\.(check_\w+)\(", check.cell.source).group(1)
            module = importlib.import_module(f"aelib.exercises.lecture{check.exercise.split('.')[0]}")
            assert getattr(module, name).exercise_id == check.exercise == definition(check.exercise).id


@pytest.mark.parametrize(("path", "exercise"), _exercises(), ids=[e for _, e in _exercises()])
def test_lecture_solution_is_judged_right_and_its_stub_not_implemented(tmp_path, capsys, path, exercise):
    solved = _objects(path, exercise, _namespace(path, stubs=False))
    assert _judge(tmp_path, exercise, solved) == (True, "")
    assert capsys.readouterr().out == f"Exercise {exercise}: answers saved for the grader\n"
    stubs = _objects(path, exercise, _namespace(path, stubs=True))
    assert _judge(tmp_path, exercise, stubs) == (False, "not yet (not implemented)")


def test_the_hidden_inputs_change_with_the_seed_and_a_lookup_table_fails(tmp_path):
    """Answers remembered from one seed's questions are wrong for another seed's."""
    seen = {}

    def key(images):
        return float(images.flatten(1).double().sum())

    def dead_model_loss(images):
        x = images.flatten(1).double()
        return seen.setdefault(key(images), ((x - x.mean(dim=0)) ** 2).mean().item())

    assert _judge(tmp_path, "1.5", (dead_model_loss,), seed=1) == (True, "")
    table = dict(seen)
    assert _judge(tmp_path, "1.5", (lambda images: table.get(key(images), 0.0),), seed=2) == (
        False,
        "not yet (a loss of 0 would mean that one fixed image reproduces every image exactly)",
    )


def slide_mse(x, x_hat):
    return ((x - x_hat) ** 2).sum().sqrt()


def wrong_threshold(scores, fpr):
    return float(max(scores)) + 1.0


def nails_with_reference(x, scale_factor):
    from aelib.upsampling import upsample_bed_of_nails as reference  # taken before the probe: it trips all the same

    return reference(x, scale_factor)


def stamp_with_pytorch(x, weight, stride=1, padding=0):
    return torch.nn.functional.conv_transpose2d(x, weight, stride=stride, padding=padding)


@pytest.mark.parametrize(
    ("exercise", "answer", "reason"),
    [
        ("1.1", slide_mse, "not yet (that is the slide's formula, the square root of a sum"),
        ("1.1", lambda x, x_hat: ((x - x_hat) ** 2).mean().item(), "not yet (mse should return a tensor"),
        ("1.3", lambda model, images: 1 / 0, "not yet (your code raised ZeroDivisionError: division by zero)"),
        (
            "2.1",
            nails_with_reference,
            "not yet (your code calls aelib.upsample_bed_of_nails, which this exercise asks you to write yourself)",
        ),
        ("2.5", stamp_with_pytorch, "not yet (your code calls torch.nn.functional.conv_transpose2d"),
        ("4.3", wrong_threshold, "not yet (with "),
        ("4.2", lambda x, x_hat, data_range=1.0: bytearray(2**62), "used more than 4 GiB of memory"),
    ],
    ids=["slide-mse", "mse-float", "raises", "calls-aelib", "calls-pytorch", "threshold", "memory"],
)
def test_typical_mistakes_get_their_hint(tmp_path, exercise, answer, reason):
    correct, got = _judge(tmp_path, exercise, (answer,))
    assert not correct and got.startswith(reason), got


def test_the_reference_works_again_after_a_probe(tmp_path):
    import aelib

    _judge(tmp_path, "2.1", (nails_with_reference,))
    assert aelib.upsample_bed_of_nails(torch.ones(1, 1, 1, 1), 2).sum() == 1
    assert torch.nn.functional.conv_transpose2d(torch.ones(1, 1, 1, 1), torch.ones(1, 1, 1, 1)).item() == 1


@pytest.mark.parametrize(
    ("saved", "problem"),
    [
        (b"not a zip", "cannot be read"),
        ({"exercise": "1.3", "error": None, "answers": {"counts": 6}, "called": []}, "do not have the probe's form"),
        ({"exercise": "1.1", "error": None, "answers": {}, "called": []}, "is not a probe's"),
        (
            {"exercise": "1.3", "error": "MemoryError", "answers": None, "called": []},
            "the saved error is not a probe's",
        ),
    ],
    ids=["garbage", "wrong-form", "other-exercise", "bad-error"],
)
def test_forged_answers_are_refused(tmp_path, saved, problem):
    folder = tmp_path / "answers"
    folder.mkdir()
    if isinstance(saved, bytes):
        (folder / "1.3.pt").write_bytes(saved)
    else:
        torch.save(saved, folder / "1.3.pt")
    correct, reason = judge_probe(
        "1.3", 0, collect_answers(str(folder), ["1.3"]).get("1.3"), None, timeout=1, memory="4 GiB", stopped=""
    )
    assert not correct and reason.startswith("the probe's answers could not be used") and problem in reason, reason


def test_answers_that_are_links_pipes_or_pickles_are_never_followed_or_run(tmp_path):
    folder = tmp_path / "answers"
    folder.mkdir()
    (folder / "1.1.pt").symlink_to("/etc/passwd")
    os.mkfifo(folder / "1.3.pt")
    buffer = io.BytesIO()
    torch.save({"exercise": "1.4", "error": None, "answers": {"x": subprocess.Popen}, "called": []}, buffer)
    (folder / "1.4.pt").write_bytes(buffer.getvalue())
    answers = collect_answers(str(folder), ["1.1", "1.3", "1.4"])
    assert "cannot be opened" in answers["1.1"].problem
    assert "not a regular file" in answers["1.3"].problem
    assert "cannot be read" in answers["1.4"].problem


# --- the model spec: what the grader rebuilds, and what it refuses ---------------------------


def _budget_model() -> nn.Module:
    namespace = _namespace(ROOT / "lectures" / "03_conv_autoencoder.ipynb", stubs=False)
    torch.manual_seed(0)
    return namespace["build_budget_autoencoder"]()


def test_a_trained_model_is_rebuilt_and_judged_on_hidden_test_images(tmp_path):
    import aelib

    model = _budget_model()
    correct, reason = _judge(tmp_path, "3.4", (model, None, None))
    assert not correct and reason.startswith("not yet (test MSE") and "grader's test images" in reason
    data = aelib.load_mnist(verbose=False)
    aelib.train_autoencoder(model, data.train_images, num_epochs=4, lr=1e-2, seed=0, device="cpu", progress=False)
    assert _judge(tmp_path, "3.4", (model, data.train_images, data.test_images)) == (True, "")


def test_the_rebuilt_model_computes_what_the_student_model_computes():
    model = _budget_model().eval()
    exported = layers.export_autoencoder(model)
    rebuilt = layers.rebuild_autoencoder(exported)
    x = torch.rand(4, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(rebuilt(x), model(x))
    assert [type(m) for m in rebuilt.modules()][1:] == [type(m) for m in model.modules()][1:]


class Sneaky(nn.Linear):
    """A subclass that looks like a Linear layer but computes something else."""

    def forward(self, x):
        return super().forward(x) * 0


@pytest.mark.parametrize(
    ("encoder", "refusal"),
    [
        (nn.Sequential(nn.Flatten(), Sneaky(784, 8)), "layer 1 of `model.encoder` is Sneaky"),
        (nn.Sequential(nn.Flatten(), nn.Linear(784, 8), nn.GELU()), "layer 2 of `model.encoder` is GELU"),
        (nn.Linear(784, 8), "`model.encoder` must be an nn.Sequential"),
        (nn.Sequential(nn.Flatten(), nn.Linear(784, 7000), nn.Linear(7000, 8)), "parameters, more than"),
        (
            nn.Sequential(nn.Upsample(scale_factor=100), nn.MaxPool2d(100), nn.Flatten(), nn.Linear(784, 8)),
            "numbers per image, more than",
        ),
    ],
    ids=["subclass", "not-whitelisted", "not-sequential", "too-many-parameters", "too-large-activation"],
)
def test_models_off_the_whitelist_or_too_large_are_refused(encoder, refusal):
    model = nn.Module()
    model.encoder, model.decoder = encoder, nn.Sequential(nn.Linear(8, 784), nn.Unflatten(1, (1, 28, 28)))
    rebuilt = layers.rebuild_autoencoder(layers.export_autoencoder(model))
    assert isinstance(rebuilt, str) and refusal in rebuilt, rebuilt


@pytest.mark.parametrize(
    "spec",
    [
        [{"type": "Module", "args": {}}],
        [{"type": "Linear", "args": {"in_features": 3, "out_features": 2, "bias": True, "device": "cuda"}}],
        [{"type": "Linear", "args": {"in_features": "__import__('os')", "out_features": 2, "bias": True}}],
        [{"type": "Upsample", "args": {"size": None, "scale_factor": 2, "mode": "os.system", "align_corners": None}}],
        "not a list",
    ],
    ids=["unknown-type", "extra-argument", "string-argument", "bad-word", "not-a-list"],
)
def test_a_forged_spec_is_refused_before_anything_is_built(spec):
    with pytest.raises(ValueError):
        layer_spec.rebuild_sequential(spec)


def test_the_instructor_package_imports_without_torch_or_matplotlib():
    """The instructor modules themselves import neither (the judges import torch when they judge)."""
    code = (
        "import sys, types, pathlib\n"
        "sys.modules['torch'] = sys.modules['matplotlib'] = None\n"  # importing either now fails
        f"package = types.ModuleType('aelib'); package.__path__ = [{str(ROOT / 'aelib')!r}]; "
        "sys.modules['aelib'] = package\n"
        "import aelib.conventions, aelib.instructor.cli, aelib.instructor.student, aelib.instructor.colab\n"
        "print(aelib.exercises.definition.__module__, aelib.instructor.probes.run_probe.__name__)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "aelib.exercises run_probe"
