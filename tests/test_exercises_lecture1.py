"""Lecture 1's exercise checks: the notebook's solutions pass; wrong, raising and unfinished ones get "not yet"."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
import torch
from torch import nn

from aelib.exercises import lecture1 as ex

NOTEBOOK = Path(__file__).resolve().parents[1] / "lectures" / "01_autoencoders.ipynb"


def _runs_in_tests(cell) -> bool:
    """The cells the tests need: the lecture's model class and the exercise solutions, found by their metadata."""
    role = cell.metadata.get("aelib", {})
    return cell.cell_type == "code" and ("defines" in role or "solution" in role)


@pytest.fixture(scope="session")
def lecture() -> dict:
    """Run the lecture's model class and its solution cells into one namespace."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    namespace = {"torch": torch, "nn": nn}
    for cell in filter(_runs_in_tests, nb.cells):
        exec(cell.source, namespace)
    assert "MNISTAutoencoder" in namespace, "no cell with metadata aelib.defines = 'MNISTAutoencoder'"
    return namespace


@pytest.fixture(scope="session")
def budget_results(lecture) -> dict:
    """Exercise 1.2's budget trained once for the whole session: PCA's bar, the reference and the one-layer model."""
    torch.manual_seed(0)
    reference = ex.budget_test_mse(lecture["DeepAutoencoder"](latent_dim=25))
    torch.manual_seed(0)
    shallow = ex.budget_test_mse(nn.Sequential(*lecture["MNISTAutoencoder"](25).children()))
    return {"pca": ex.pca_test_mse(), "reference": reference, "shallow": shallow}


def verdict(capsys, check, answer) -> str:
    check(answer)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def _raise(*args, **kwargs):
    raise ValueError("broken\nsecond line")


def _not_implemented(*args, **kwargs):
    raise NotImplementedError("Exercise 1.1: write your solution here")


@pytest.mark.parametrize(
    "check, name",
    [
        (ex.check_mse, "mse"),
        (ex.check_num_parameters, "num_parameters"),
        (ex.check_encode, "encode"),
        (ex.check_train_step, "train_step"),
    ],
)
def test_the_lectures_solutions_pass(capsys, lecture, check, name):
    assert verdict(capsys, check, lecture[name]) == f"Exercise {check.exercise_id}: correct"


def test_the_students_prints_and_warnings_stay_out_of_the_verdict(capsys):
    def chatty_mse(x, x_hat):
        import warnings

        print("debugging:", x.shape)
        warnings.warn("a warning from the student's code", stacklevel=1)
        return ((x - x_hat) ** 2).mean()

    ex.check_mse(chatty_mse)
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("Exercise 1.1: correct\n", "")


@pytest.mark.parametrize(
    "check", [ex.check_mse, ex.check_deep_autoencoder, ex.check_num_parameters, ex.check_encode, ex.check_train_step]
)
def test_raising_and_unfinished_answers(capsys, check):
    assert (
        verdict(capsys, check, _raise) == f"Exercise {check.exercise_id}: not yet (your code raised ValueError: broken)"
    )
    assert "not yet (not implemented yet" in verdict(capsys, check, _not_implemented)


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda x, x_hat: ((x - x_hat) ** 2).sum().sqrt(), "the slide's formula"),
        (lambda x, x_hat: ((x - x_hat) ** 2).sum(), "you summed the squared differences"),
        (lambda x, x_hat: ((x - x_hat) ** 2).mean().sqrt(), "leave out the square root"),
        (lambda x, x_hat: (x - x_hat).abs().mean(), "mean absolute error"),
        (lambda x, x_hat: ((x - x_hat) ** 2).mean(dim=-1), "average over every element"),
        (lambda x, x_hat: ((x - x_hat) ** 2).mean().item(), "should return a tensor"),
        (lambda x, x_hat: torch.tensor(((x - x_hat) ** 2).mean().item()), "does not track gradients"),
        (lambda x, x_hat: x.sub_(x_hat).pow_(2).mean(), "changed its inputs in place"),
        (lambda x, x_hat: ((x - x_hat) ** 2).mean() * 1.01, "wrong value for inputs of shape (2, 2)"),
    ],
)
def test_mse_hints(capsys, wrong, hint):
    line = verdict(capsys, ex.check_mse, wrong)
    assert line.startswith("Exercise 1.1: not yet (") and hint in line


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda sizes: sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True)), "not the biases"),
        (lambda sizes: sum(a * b + a for a, b in zip(sizes[:-1], sizes[1:], strict=True)), "one bias per output"),
        (
            lambda sizes: float(sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=True))),
            "should return an int",
        ),
        (lambda sizes: 8629, "wrong count for layer sizes [784, 128, 25, 128, 784]"),
    ],
)
def test_num_parameters_hints(capsys, wrong, hint):
    line = verdict(capsys, ex.check_num_parameters, wrong)
    assert line.startswith("Exercise 1.3: not yet (") and hint in line


def _encode_without_eval(model, images):
    with torch.no_grad():
        return model.encoder(images.flatten(1))


def _encode_without_restoring(model, images):
    model.eval()
    with torch.no_grad():
        return model.encoder(images.flatten(1))


def _encode_with_gradients(model, images):
    return model.encoder(images.flatten(1))


def _encode_unflattened(model, images):
    with torch.no_grad():
        return model.encoder(images)


def _reconstruct(model, images):
    with torch.no_grad():
        return model(images).flatten(1)


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (_encode_without_eval, "switch the model to eval mode"),
        (_encode_without_restoring, "put it back as it was"),
        (_encode_with_gradients, "torch.no_grad()"),
        (_encode_unflattened, "your code raised RuntimeError"),
        (_reconstruct, "expected (4, 5)"),
    ],
)
def test_encode_hints(capsys, wrong, hint):
    line = verdict(capsys, ex.check_encode, wrong)
    assert line.startswith("Exercise 1.4: not yet (") and hint in line


class _Deep(nn.Module):
    """784 => hidden => latent_dim => hidden => 784, with a choice of output activation."""

    def __init__(self, hidden, latent_dim=25, last=nn.Sigmoid):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(784, hidden), nn.ReLU(), nn.Linear(hidden, latent_dim))
        self.decoder = nn.Sequential(nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, 784), last())

    def forward(self, x):
        return self.decoder(self.encoder(x))


@pytest.mark.parametrize(
    "wrong, hint",
    [
        ("MNISTAutoencoder", "give each at least two"),
        (lambda latent_dim=25: _Deep(64, 25), "with latent_dim=7 the encoder maps (3, 784) to (3, 25)"),
        (lambda latent_dim=25: _Deep(1000, latent_dim), "too many for the check's short training"),
        (lambda latent_dim=25: nn.Linear(784, 784), "needs an `encoder` module"),
    ],
)
def test_deep_autoencoder_structure_hints(capsys, lecture, wrong, hint):
    if wrong == "MNISTAutoencoder":  # the lecture's one-layer model, from the notebook
        wrong = lambda latent_dim=25: lecture["MNISTAutoencoder"](latent_dim)  # noqa: E731
    line = verdict(capsys, ex.check_deep_autoencoder, wrong)
    assert line.startswith("Exercise 1.2: not yet (") and hint in line


def test_deep_autoencoder_reference_passes_and_check_leaves_the_notebook_state_alone(
    capsys, lecture, budget_results, monkeypatch
):
    """The check's verdict on the reference, with the budget training served from the session's one run."""
    monkeypatch.setattr(ex.budgets, "budget_test_mse", lambda model: budget_results["reference"])
    torch.manual_seed(123)
    state, threads = torch.get_rng_state(), torch.get_num_threads()
    assert verdict(capsys, ex.check_deep_autoencoder, lecture["DeepAutoencoder"]) == "Exercise 1.2: correct"
    assert torch.equal(torch.get_rng_state(), state) and torch.get_num_threads() == threads


def test_budget_training_leaves_the_random_state_and_threads_alone(budget_results):
    torch.manual_seed(123)
    state, threads = torch.get_rng_state(), torch.get_num_threads()
    torch.manual_seed(0)
    ex.budget_test_mse(nn.Sequential(nn.Linear(784, 4), nn.Linear(4, 784)))  # a tiny model: fast
    assert torch.get_num_threads() == threads
    torch.manual_seed(123)
    assert torch.equal(torch.get_rng_state(), state)


def test_deep_but_untrainable_model_fails_on_the_budget(capsys):
    """Deep enough by structure, but a tiny Tanh network that does not beat PCA in the budget's steps."""
    line = verdict(capsys, ex.check_deep_autoencoder, lambda latent_dim=25: _Deep(8, latent_dim, nn.Tanh))
    assert line.startswith("Exercise 1.2: not yet (after the check's training your test MSE is")


def test_deep_autoencoder_verdicts_are_far_from_the_bar(budget_results):
    """The reference beats PCA by a wide margin, the lecture's one-layer model loses by one: no machine flips them."""
    assert 0.015 < budget_results["pca"] < 0.03
    assert budget_results["reference"] < 0.9 * budget_results["pca"]
    assert budget_results["shallow"] > 1.5 * budget_results["pca"]


def test_budget_steps_are_counted_not_hard_coded():
    assert ex.budget_steps(ex.DEEP_BUDGET) == 10 * 63  # 2,000 digits in batches of 32: 62 full and one of 16
    assert ex.budget_steps(ex.STEP_BUDGET) == 5 * 63


def _step_without_zero_grad(model, x, optimizer):
    loss = nn.functional.mse_loss(model(x), x)
    loss.backward()
    optimizer.step()
    return loss.item()


def _step_without_backward(model, x, optimizer):
    loss = nn.functional.mse_loss(model(x), x)
    optimizer.zero_grad()
    optimizer.step()
    return loss.item()


def _step_without_step(model, x, optimizer):
    loss = nn.functional.mse_loss(model(x), x)
    optimizer.zero_grad()
    loss.backward()
    return loss.item()


def _step_zero_grad_after_backward(model, x, optimizer):
    loss = nn.functional.mse_loss(model(x), x)
    loss.backward()
    optimizer.zero_grad(set_to_none=False)
    optimizer.step()
    return loss.item()


def _step_returning_tensor(model, x, optimizer):
    loss = nn.functional.mse_loss(model(x), x)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss


def _step_returning_loss_after(model, x, optimizer):
    loss = nn.functional.mse_loss(model(x), x)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    with torch.no_grad():
        return nn.functional.mse_loss(model(x), x).item()


def _step_summed(model, x, optimizer):
    loss = nn.functional.mse_loss(model(x), x, reduction="sum")
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def _step_wrong_target(model, x, optimizer):
    loss = nn.functional.mse_loss(model(x), torch.zeros_like(x))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def _step_in_place(model, x, optimizer):
    loss = nn.functional.mse_loss(model(x), x)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    x.clamp_(0.1, 0.9)
    return loss.item()


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (_step_without_zero_grad, "the gradients pile up from step to step: call optimizer.zero_grad()"),
        (_step_without_backward, "no gradients: call loss.backward()"),
        (_step_without_step, "call optimizer.step() after loss.backward()"),
        (_step_zero_grad_after_backward, "before loss.backward(), not after"),
        (_step_returning_tensor, "return loss.item()"),
        (_step_returning_loss_after, "computed after the update"),
        (_step_summed, "sum of the squared errors"),
        (_step_wrong_target, "compute the loss against the input itself"),
        (_step_in_place, "changed the batch x in place"),
    ],
)
def test_train_step_hints(capsys, wrong, hint):
    line = verdict(capsys, ex.check_train_step, wrong)
    assert line.startswith("Exercise 1.5: not yet (") and hint in line, line


def test_train_step_budget_reaches_the_target_with_a_margin(lecture):
    """The reference step clears the target by a margin; a step that learns too little does not."""
    test_mse, target = ex.step_budget_test_mse(lecture["train_step"])
    assert test_mse < 0.95 * target

    def tiny_lr_step(model, x, optimizer):
        for group in optimizer.param_groups:
            group["lr"] = 1e-5
        return lecture["train_step"](model, x, optimizer)

    assert ex.step_budget_test_mse(tiny_lr_step)[0] > target
