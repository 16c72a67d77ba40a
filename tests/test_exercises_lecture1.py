"""Lecture 1's exercise checks: the notebook's solutions pass; wrong, raising and unfinished ones get "not yet"."""

from __future__ import annotations

from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
from torch import nn

from aelib.exercises import lecture1 as ex
from aelib.exercises.lecture1 import budgets
from aelib.exercises.lecture1.dead_units import DEAD_MODEL_LOSS, REVIVE_DEAD_UNITS, plateau_inputs, revive_inputs
from aelib.exercises.running import ask, problem

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
        (ex.check_revive_dead_units, "revive_dead_units"),
        (ex.check_encode, "encode"),
        (ex.check_dead_model_loss, "dead_model_loss"),
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
    "check",
    [ex.check_mse, ex.check_deep_autoencoder, ex.check_revive_dead_units, ex.check_encode, ex.check_dead_model_loss],
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


# --- 1.3 revive_dead_units: the diagnosis, then one change per dead unit ---------------------


def _judged(exercise, seed, answer) -> str | None:
    """Probe and judge as the grader does, on the hidden inputs of `seed` (None: the self-check's)."""
    return problem(exercise, seed, ask(exercise, seed, lambda: (answer,)))


def _reviver(*, look=None, dead_when=None, new_bias=None, reset_weights=False, on_copy=False, returns=None):
    """Return a revive_dead_units with one typical mistake switched on.

    look: how many images the diagnosis looks at; dead_when(z) -> (k,) mask from the ReLU outputs z (N, k);
    new_bias(weighted, pre, old) -> the new bias of one dead unit from its inputs without and with the bias.
    """

    def revive_dead_units(model, images):
        linear = model.encoder[0]
        with torch.no_grad():
            pre = linear(images.flatten(1))  # (N, k)
            z = torch.relu(pre if look is None else pre[:look])
            dead = dead_when(z) if dead_when else (z == 0).all(dim=0)
            revived = dead.nonzero().flatten().tolist()
            weighted = pre - linear.bias
            bias = linear.bias.clone() if on_copy else linear.bias
            for unit in revived:
                if new_bias is None:
                    bias[unit] = -weighted[:, unit].median()
                else:
                    bias[unit] = new_bias(weighted[:, unit], pre[:, unit], linear.bias[unit])
                if reset_weights:
                    linear.weight[unit].normal_(0, 0.01)
        if returns == "mask":
            return dead
        if returns == "reversed":
            return revived[::-1]
        return revived

    return revive_dead_units


REVIVE_MISTAKES = [
    (_reviver(look=128), "look at every image, not only the first ones"),
    (_reviver(dead_when=lambda z: z.max(dim=0).values < 1e-3), "a unit is dead only when its output is exactly 0"),
    (_reviver(new_bias=lambda weighted, pre, old: 0.0), "still dead with a bias of 0"),
    (_reviver(new_bias=lambda weighted, pre, old: -torch.relu(pre).median()), "still dead with a bias of 0"),
    (_reviver(new_bias=lambda weighted, pre, old: weighted.median()), "its new bias has the wrong sign"),
    (_reviver(new_bias=lambda weighted, pre, old: -pre.median()), "inputs that still contain the old bias"),
    (_reviver(new_bias=lambda weighted, pre, old: 100.0), "should be active on about half of them"),
    (_reviver(reset_weights=True), "(dead) changed: make one change per dead unit, to its bias only"),
    (_reviver(on_copy=True), "the model's biases did not change: revive the dead units in the model itself"),
    (_reviver(returns="mask"), "not a mask"),
    (lambda model, images: [], "outputs 0 on every one of the"),
]


def test_revive_dead_units_names_changes_to_live_units_the_decoder_and_the_order():
    def also_a_live_bias(model, images):
        revived = _reviver()(model, images)
        with torch.no_grad():
            model.encoder[0].bias[next(u for u in range(len(model.encoder[0].bias)) if u not in revived)] += 0.1
        return revived

    def also_the_decoder(model, images):
        with torch.no_grad():
            model.decoder[0].bias += 0.1
        return _reviver()(model, images)

    assert len(revive_inputs(None)["dead"]) > 1, "a list of one unit is in order whichever way it is built"
    assert "is alive: change only the dead units' biases" in _judged(REVIVE_DEAD_UNITS, None, also_a_live_bias)
    assert _judged(REVIVE_DEAD_UNITS, None, also_the_decoder).startswith("the decoder changed")
    assert _judged(REVIVE_DEAD_UNITS, None, _reviver(returns="reversed")).startswith("return the indices in increasing")


@pytest.mark.parametrize("seed", [None, 1, 2, 3])
def test_revive_inputs_hold_what_their_hints_say(seed):
    """Dead units are 0 on every image, even with a bias of 0; the rare unit is on only late; the weak one faintly."""
    inputs = revive_inputs(seed)
    model, images = inputs["model"], inputs["images"]
    linear = model.encoder[0]
    with torch.no_grad():
        weighted = images.flatten(1) @ linear.weight.T  # (N, k)
        on = (weighted + linear.bias) > 0
    n = len(images)
    assert images.shape[1:] == (1, 28, 28) and 0 <= images.min() and images.max() <= 1
    assert on.any(dim=0).logical_not().nonzero().flatten().tolist() == inputs["dead"]
    assert (weighted[:, inputs["dead"]] < 0).all(), "a bias of 0 must not revive a dead unit"
    rare = on[:, inputs["rare"]].nonzero().flatten()
    assert 1 <= len(rare) <= 6 and (rare >= n // 2).all()
    weak = torch.relu(weighted + linear.bias)[:, inputs["weak"]]
    assert on[:, inputs["weak"]].float().mean() >= 0.2 and weak.max() < 1e-3
    healthy = [u for u in range(len(linear.bias)) if u not in (*inputs["dead"], inputs["rare"], inputs["weak"])]
    assert ((on[:, healthy].float().mean(dim=0) - 0.5).abs() <= 0.31).all()


def test_hidden_inputs_differ_between_seeds():
    first, second, fixed = revive_inputs(1), revive_inputs(2), revive_inputs(None)
    assert not torch.equal(first["images"][:50], second["images"][:50])
    assert not torch.equal(first["model"].encoder[0].weight, second["model"].encoder[0].weight)
    assert not torch.equal(first["images"][:50], fixed["images"][:50])
    assert revive_inputs(1)["dead"] == first["dead"] and torch.equal(revive_inputs(1)["images"], first["images"])
    losses_first, losses_second = plateau_inputs(1), plateau_inputs(2)
    assert all(not torch.equal(a[:3], b[:3]) for a, b in zip(losses_first, losses_second, strict=True))
    assert all(torch.equal(a, b) for a, b in zip(plateau_inputs(1), losses_first, strict=True))


def test_the_inputs_leave_the_budget_digits_and_the_random_state_alone():
    train, test = (t.clone() for t in budgets.budget_digits())
    torch.manual_seed(123)
    state = torch.get_rng_state()
    for seed in (None, 4):
        revive_inputs(seed)["images"].zero_()
        for images in plateau_inputs(seed):
            images.zero_()
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(a, b) for a, b in zip(budgets.budget_digits(), (train, test), strict=True))


# --- 1.5 dead_model_loss: the best constant output's MSE ---------------------------------------


def _flat(images):
    return images.flatten(1)


DEAD_LOSS_MISTAKES = [
    (lambda images: (images**2).mean().item(), "all-black output"),
    (lambda images: ((images - images.mean()) ** 2).mean().item(), "one grey level at every pixel"),
    (
        lambda images: ((images - images.mean(dim=(1, 2, 3), keepdim=True)) ** 2).mean().item(),
        "changes from image to image",
    ),
    (lambda images: _flat(images).var(dim=0).mean().item(), "you divided by N - 1"),
    (lambda images: ((images - images.median(dim=0).values) ** 2).mean().item(), "per-pixel median image"),
    (lambda images: ((images - images.mean(dim=0)) ** 2).mean().sqrt().item(), "leave out the square root"),
    (lambda images: (images - images.mean(dim=0)).abs().mean().item(), "mean absolute error"),
    (lambda images: ((images - images.mean(dim=0)) ** 2).flatten(1).sum(1).mean().item(), "summed over the pixels"),
    (lambda images: _flat(images).std(dim=0, correction=0).mean().item(), "mean of standard deviations"),
    (lambda images: _flat(images).var(dim=0, correction=0), "return one number"),
    (lambda images: images.var(dim=1, correction=0).mean().item(), "a loss of 0 would mean"),
    (lambda images: ((images.sub_(images.mean(dim=0))) ** 2).mean().item(), "changed the images in place"),
    (lambda images: "0.07", "return the loss as a finite number, got str"),
]


# Exercises whose mistakes are listed above: (id, self-check, definition, the lecture's solution, mistakes).
NAMED_MISTAKES = {
    "1.3": (ex.check_revive_dead_units, REVIVE_DEAD_UNITS, "revive_dead_units", REVIVE_MISTAKES),
    "1.5": (ex.check_dead_model_loss, DEAD_MODEL_LOSS, "dead_model_loss", DEAD_LOSS_MISTAKES),
}


@pytest.mark.parametrize("exercise_id", NAMED_MISTAKES)
def test_mistakes_are_named(capsys, exercise_id):
    check, _, _, mistakes = NAMED_MISTAKES[exercise_id]
    for wrong, hint in mistakes:
        line = verdict(capsys, check, wrong)
        assert line.startswith(f"Exercise {exercise_id}: not yet (") and hint in line, line


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("exercise_id", NAMED_MISTAKES)
def test_mistakes_are_named_on_hidden_inputs(lecture, exercise_id, seed):
    """The reference passes and each mistake gets its hint on hidden inputs too, not only on the fixed ones."""
    _, exercise, solution, mistakes = NAMED_MISTAKES[exercise_id]
    assert _judged(exercise, seed, lecture[solution]) is None
    for wrong, hint in mistakes:
        assert hint in (_judged(exercise, seed, wrong) or "correct"), hint


def test_dead_model_loss_accepts_float32_tensors_and_numpy_floats(capsys):
    """The same number in another form is right: a 0-dim float32 tensor, or a NumPy float."""
    as_tensor = lambda x: ((x - x.mean(dim=0)) ** 2).mean()  # noqa: E731
    as_numpy = lambda x: np.float32(_flat(x).var(dim=0, correction=0).mean())  # noqa: E731
    for answer in (as_tensor, as_numpy):
        assert verdict(capsys, ex.check_dead_model_loss, answer) == "Exercise 1.5: correct"


def test_dead_model_loss_is_what_a_trained_dead_model_reaches():
    """A decoder that sees only zeros, trained to convergence, ends at the predicted floor, and not below it."""
    images = plateau_inputs(None)[0][:300]
    x = images.flatten(1)  # (N, 784)
    decoder = nn.Linear(5, 784)
    optimizer = torch.optim.SGD(decoder.parameters(), lr=100.0)  # the MSE's gradient on one bias is 2 (b - m) / 784
    zeros = torch.zeros(len(x), 5)  # the code of a model whose every unit is dead
    for _ in range(100):
        loss = nn.functional.mse_loss(decoder(zeros), x)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    floor = ((x.double() - x.double().mean(dim=0)) ** 2).mean().item()
    assert floor * (1 - 1e-6) <= loss.item() < floor * 1.001  # not below it, but for float32 rounding
