"""The model cache: a hit gives back what training gave, each part of the key misses, no file is half written."""

from __future__ import annotations

import functools
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn

import aelib
import aelib.cache

X = torch.rand(32, 1, 4, 4, generator=torch.Generator().manual_seed(0))  # (N, 1, 4, 4): tiny images
X_TEST = torch.rand(8, 1, 4, 4, generator=torch.Generator().manual_seed(1))
SETTINGS = dict(num_epochs=2, batch_size=8, test_images=X_TEST, snapshots=aelib.Snapshots(X_TEST[:2], (1, 2)))


class Tiny(nn.Module):
    """A 16-pixel autoencoder: it trains in milliseconds."""

    def __init__(self, latent_dim: int = 2, final_activation: type[nn.Module] = nn.Tanh) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Flatten(), nn.Linear(16, latent_dim), nn.ReLU()
        )  # (B, 1, 4, 4) => (B, latent_dim)
        self.decoder = nn.Sequential(nn.Linear(latent_dim, 16), final_activation(), nn.Unflatten(1, (1, 4, 4)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


def make(cls: type[nn.Module] = Tiny, seed: int = 0, **kwargs) -> nn.Module:
    aelib.set_seed(seed)
    return cls(**kwargs)


def twin_class() -> type[nn.Module]:
    class Tiny(globals()["Tiny"]):
        """Same name, same layers, same initial weights: another class."""

    return Tiny


def tiny_class(scale: float) -> type[nn.Module]:
    """Define the class anew, as re-running a notebook cell does; `scale` changes its forward."""

    class Tiny(globals()["Tiny"]):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return super().forward(x) * scale

    return Tiny


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty cache folder, the quick profile and no AELIB_RETRAIN."""
    monkeypatch.setenv("AELIB_CACHE", str(tmp_path / "models"))
    monkeypatch.setenv("AELIB_PROFILE", "quick")
    monkeypatch.delenv("AELIB_RETRAIN", raising=False)
    return tmp_path / "models"


@pytest.fixture
def trainings(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """Record each call of train_autoencoder that load_or_train makes (its keyword arguments)."""
    calls: list[dict] = []
    train = aelib.cache.train_autoencoder

    @functools.wraps(train)
    def recorded(model, train_images, **kwargs):
        calls.append(kwargs)
        return train(model, train_images, **kwargs)

    monkeypatch.setattr(aelib.cache, "train_autoencoder", recorded)
    return calls


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def same_history(a: aelib.History, b: aelib.History) -> bool:
    return (
        a.train_loss == b.train_loss
        and a.test_loss == b.test_loss
        and a.snapshots.keys() == b.snapshots.keys()
        and all(torch.equal(a.snapshots[e], b.snapshots[e]) for e in a.snapshots)
    )


def test_a_hit_gives_back_the_trained_weights_and_history_without_training(cache: Path, trainings: list[dict]) -> None:
    reference = make()
    expected = aelib.train_autoencoder(reference, X, **SETTINGS)
    first = make()
    assert same_history(aelib.load_or_train(first, X, **SETTINGS), expected) and same_weights(first, reference)
    second = make()
    second.train()
    history = aelib.load_or_train(second, X, **SETTINGS)
    assert len(trainings) == 1, "the second call must load, not train"
    assert same_weights(second, reference) and same_history(history, expected)
    assert sorted(history.snapshots) == [1, 2] and len(history.test_loss) == 2
    assert not second.training and next(second.parameters()).device == torch.device("cpu"), (
        "as train_autoencoder leaves it"
    )


def test_miss_stays_silent_and_a_load_prints_one_short_line_with_details_only_when_verbose(
    cache: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    aelib.load_or_train(make(), X, seed=3, **SETTINGS)
    assert capsys.readouterr().out == ""
    aelib.load_or_train(make(), X, seed=3, **SETTINGS)
    assert capsys.readouterr().out == "Loaded from the model cache: Tiny, seed 3\n", "no hash, path or time"
    monkeypatch.setenv("AELIB_VERBOSE", "1")
    aelib.load_or_train(make(), X, seed=3, **SETTINGS)
    pattern = (
        r"Model cache: Tiny, seed 3 \(82 parameters; 2 epochs on 32 images, profile 'quick'\): "
        r"trained \d{4}-\d\d-\d\d \d\d:\d\d in \d+ s, \$AELIB_CACHE/(Tiny-[0-9a-f]{20}\.pt)\n"
        r"Loaded from the model cache: Tiny, seed 3\n"
    )
    match = re.fullmatch(pattern, capsys.readouterr().out)
    assert match
    assert [p.name for p in cache.iterdir()] == [match.group(1)], "the line names the one file of this model"


def test_the_file_holds_only_tensors_numbers_and_strings(cache: Path) -> None:
    aelib.load_or_train(make(), X, **SETTINGS)
    (path,) = cache.iterdir()
    entry = torch.load(path, weights_only=True)  # raises on any pickled object
    assert {"state_dict", "history", "trained_at", "description", "key"} <= entry.keys()
    assert isinstance(entry["history"]["train_loss"], list) and isinstance(
        entry["history"]["snapshots"][2], torch.Tensor
    )


def changed_pixel(x: torch.Tensor) -> torch.Tensor:
    x = x.clone()
    x[-1, 0, -1, -1] += 0.5
    return x


def other_profile(monkeypatch: pytest.MonkeyPatch) -> tuple[nn.Module, dict]:
    monkeypatch.setenv("AELIB_PROFILE", "cpu")
    return make(), {}


def other_version(monkeypatch: pytest.MonkeyPatch) -> tuple[nn.Module, dict]:
    monkeypatch.setattr(aelib, "__version__", "0.0.0+other")
    return make(), {}


# Each part of the key, changed on its own; everything else as in the first training.
CHANGES: dict[str, Callable[[pytest.MonkeyPatch], tuple[nn.Module, dict]]] = {
    "model class (same name, layers, weights)": lambda mp: (make(twin_class()), {}),
    "structure (an activation: no weights)": lambda mp: (make(final_activation=nn.Sigmoid), {}),
    "initial weights": lambda mp: (make(seed=1), {}),
    "constructor argument": lambda mp: (make(latent_dim=3), {}),
    "num_epochs": lambda mp: (make(), {"num_epochs": 3}),
    "batch_size": lambda mp: (make(), {"batch_size": 16}),
    "lr": lambda mp: (make(), {"lr": 1e-2}),
    "weight_decay": lambda mp: (make(), {"weight_decay": 0.0}),
    "loss": lambda mp: (make(), {"loss": nn.L1Loss()}),
    "seed": lambda mp: (make(), {"seed": 1}),
    "train images (one pixel)": lambda mp: (make(), {"train_images": changed_pixel(X)}),
    "test images (one pixel)": lambda mp: (make(), {"test_images": changed_pixel(X_TEST)}),
    "train targets": lambda mp: (make(), {"train_targets": X.flip(0)}),
    "test targets": lambda mp: (make(), {"test_targets": X_TEST.flip(0)}),
    "corrupt": lambda mp: (make(), {"corrupt": functools.partial(scaled, factor=0.5)}),
    "snapshot images": lambda mp: (make(), {"snapshots": aelib.Snapshots(X_TEST[2:4], (1, 2))}),
    "snapshot epochs": lambda mp: (make(), {"snapshots": aelib.Snapshots(X_TEST[:2], (2,))}),
    "profile": other_profile,
    "aelib version": other_version,
}


@pytest.mark.parametrize("part", CHANGES)
def test_changing_any_one_part_of_the_key_misses(
    part: str, cache: Path, trainings: list[dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    aelib.load_or_train(make(), X, **SETTINGS)
    aelib.load_or_train(make(), X, **SETTINGS)
    assert len(trainings) == 1, "unchanged, it hits"
    model, change = CHANGES[part](monkeypatch)
    settings = {**SETTINGS, "train_images": X, **change}
    aelib.load_or_train(model, settings.pop("train_images"), **settings)
    assert len(trainings) == 2, f"a changed {part} must train again"
    assert len(list(cache.iterdir())) == 2, "in a file of its own, beside the first"


def test_device_progress_and_spelled_out_defaults_are_not_part_of_the_key(cache: Path, trainings: list[dict]) -> None:
    aelib.load_or_train(make(), X, **SETTINGS, device=None, progress=False)
    aelib.load_or_train(make(), X, **SETTINGS, device="cpu", progress=None, lr=1e-3, weight_decay=1e-5, seed=0)
    assert len(trainings) == 1


def test_a_redefined_class_hits_unless_its_code_changed(cache: Path, trainings: list[dict]) -> None:
    aelib.load_or_train(make(tiny_class(0.5)), X, **SETTINGS)
    aelib.load_or_train(make(tiny_class(0.5)), X, **SETTINGS)  # the cell run again: a new class object, the same code
    assert len(trainings) == 1
    aelib.load_or_train(make(tiny_class(0.25)), X, **SETTINGS)  # forward changed
    assert len(trainings) == 2


def noise_of(std: float) -> Callable[[torch.Tensor, torch.Generator], torch.Tensor]:
    def corrupt(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return x + std * torch.randn(x.shape, generator=generator)

    return corrupt


def scaled(x: torch.Tensor, generator: torch.Generator, *, factor: float) -> torch.Tensor:
    return x * factor


NOTEBOOK_CELL = (
    "def corrupt(x, generator):\n    return x + noise_std * torch.randn(x.shape, generator=generator, device=device)\n"
)


def notebook_corrupt(noise_std: float) -> Callable:
    """Define `corrupt` as a notebook does: in __main__, reading the globals `noise_std`, `torch` and `device`."""
    namespace = {"__name__": "__main__", "torch": torch, "noise_std": noise_std, "device": torch.device("cpu")}
    exec(NOTEBOOK_CELL, namespace)
    return namespace["corrupt"]


@pytest.mark.parametrize(
    ("same", "other"),
    [
        (lambda: noise_of(0.1), lambda: noise_of(0.2)),  # a closure value
        (lambda: functools.partial(scaled, factor=0.5), lambda: functools.partial(scaled, factor=0.25)),
        (lambda: notebook_corrupt(0.1), lambda: notebook_corrupt(0.2)),  # a notebook's global
        (lambda: lambda x, g: x * 0.5, lambda: lambda x, g: x * 0.25),  # the same name, other code
    ],
    ids=["closure", "partial", "notebook global", "lambda body"],
)
def test_corrupt_is_keyed_by_what_it_computes(same, other, cache: Path, trainings: list[dict]) -> None:
    aelib.load_or_train(make(), X, corrupt=same(), **SETTINGS)
    aelib.load_or_train(make(), X, corrupt=same(), **SETTINGS)  # defined again, equal
    assert len(trainings) == 1
    aelib.load_or_train(make(), X, corrupt=other(), **SETTINGS)
    assert len(trainings) == 2


def test_a_notebook_functions_device_global_is_not_part_of_the_key(cache: Path, trainings: list[dict]) -> None:
    aelib.load_or_train(make(), X, corrupt=notebook_corrupt(0.1), **SETTINGS)
    on_another_device = notebook_corrupt(0.1)
    on_another_device.__globals__["device"] = torch.device("meta")  # never called: a hit does not train
    aelib.load_or_train(make(), X, corrupt=on_another_device, **SETTINGS)
    assert len(trainings) == 1


class Noise:
    """A callable with hidden state: its key cannot be told from its name."""

    def __init__(self) -> None:
        self.std = 0.1

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return x + self.std * torch.randn(x.shape, generator=generator)


def test_what_cannot_be_keyed_is_refused_with_a_clear_error(cache: Path, trainings: list[dict]) -> None:
    with pytest.raises(
        TypeError, match=r"cannot key corrupt = <.*Noise object.*train with aelib.train_autoencoder instead"
    ):
        aelib.load_or_train(make(), X, corrupt=Noise(), **SETTINGS)
    generator = torch.Generator().manual_seed(0)
    with pytest.raises(TypeError, match=r"cannot key corrupt closure variable 'generator' = .*torch\._C\.Generator"):
        aelib.load_or_train(make(), X, corrupt=lambda x, g: x + torch.randn(x.shape, generator=generator), **SETTINGS)
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'snapshot_images'"):
        aelib.load_or_train(make(), X, num_epochs=1, snapshot_images=X[:2])
    assert trainings == [] and not cache.exists()


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def garble(path: Path) -> None:
    path.write_bytes(b"not a model" * 100)


def flip_a_weight(path: Path) -> None:
    entry = torch.load(path, weights_only=True)
    next(iter(entry["state_dict"].values())).view(-1)[0] += 1.0  # a bit of rot: it still loads
    torch.save(entry, path)


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (truncate, "ValueError: not a whole PyTorch file: truncated or overwritten"),
        (garble, "ValueError: not a whole PyTorch file: truncated or overwritten"),
        (flip_a_weight, "ValueError: its weights do not match their checksum"),
    ],
)
def test_a_damaged_file_is_reported_in_one_line_and_trained_again_and_nothing_else_is_lost(
    damage: Callable[[Path], None], reason: str, cache: Path, trainings: list[dict], capsys: pytest.CaptureFixture[str]
) -> None:
    reference = make()
    aelib.load_or_train(reference, X, **SETTINGS)
    (path,) = cache.iterdir()
    aelib.load_or_train(make(), X, **{**SETTINGS, "seed": 1})  # another model, in its own file
    (other,) = set(cache.iterdir()) - {path}
    other_bytes = other.read_bytes()
    damage(path)
    capsys.readouterr()
    model = make()
    history = aelib.load_or_train(model, X, **SETTINGS)
    (line,) = capsys.readouterr().out.splitlines()
    assert re.fullmatch(
        rf"Model cache: \$AELIB_CACHE/{path.name} is unreadable \({reason}\); training again and replacing it", line
    ), line
    assert len(trainings) == 3 and same_weights(model, reference) and len(history.train_loss) == 2
    assert other.read_bytes() == other_bytes, "the other model's file is untouched"
    again = make()
    aelib.load_or_train(again, X, **SETTINGS)
    assert len(trainings) == 3 and same_weights(again, reference), "the file was replaced by a good one"


def test_retrain_trains_again_and_overwrites(
    cache: Path, trainings: list[dict], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    aelib.load_or_train(make(), X, **SETTINGS)
    (path,) = cache.iterdir()
    written = path.stat().st_mtime_ns
    monkeypatch.setenv("AELIB_RETRAIN", "1")
    aelib.load_or_train(make(), X, **SETTINGS)
    assert len(trainings) == 2 and path.stat().st_mtime_ns > written and list(cache.iterdir()) == [path]
    monkeypatch.setenv("AELIB_RETRAIN", "0")
    capsys.readouterr()
    aelib.load_or_train(make(), X, **SETTINGS)
    assert len(trainings) == 2 and capsys.readouterr().out.startswith("Loaded from the model cache: Tiny")


def failing_save(obj, f) -> None:
    f.write(b"PK\x03\x04 half a file")
    raise OSError(28, "No space left on device")


def test_a_failed_write_leaves_no_partial_file_and_keeps_the_trained_model(
    cache: Path, trainings: list[dict], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    aelib.load_or_train(make(), X, **SETTINGS)
    (path,) = cache.iterdir()
    good = path.read_bytes()
    monkeypatch.setattr(torch, "save", failing_save)
    model = make()
    history = aelib.load_or_train(model, X, **{**SETTINGS, "seed": 1})  # a new file fails
    monkeypatch.setenv("AELIB_RETRAIN", "1")
    aelib.load_or_train(make(), X, **SETTINGS)  # an overwrite fails
    assert len(trainings) == 3 and len(history.train_loss) == 2 and not same_weights(model, make())
    assert list(cache.iterdir()) == [path] and path.read_bytes() == good, (
        "no partial or temporary file; the old one whole"
    )
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and all(
        re.match(r"Model cache: could not store \$AELIB_CACHE/Tiny-\w+\.pt \(.*No space left", line) for line in lines
    )


def test_a_full_disk_is_one_line_that_says_so_and_the_trained_model_is_kept(
    cache: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def full_disk_save(obj, f, *args, **kwargs):  # what torch.save raises when the disk fills up part-way
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 25536 vs 25488")

    monkeypatch.setattr(torch, "save", full_disk_save)
    monkeypatch.setattr(aelib.cache.shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(2**30, 2**30, 2**19))
    model = make()
    history = aelib.load_or_train(model, X, **SETTINGS)
    (line,) = capsys.readouterr().out.splitlines()
    assert re.fullmatch(
        r"Model cache: could not store \$AELIB_CACHE/Tiny-\w+\.pt \(the disk is full: 0\.5 MB free; free some space "
        r"or point AELIB_CACHE elsewhere\); the model is trained, and will be trained again next time",
        line,
    ), line
    assert len(history.train_loss) == 2 and not same_weights(model, make()) and not any(cache.iterdir())


def test_a_load_leaves_the_random_state_as_training_does(cache: Path) -> None:
    states = []
    for _ in range(2):  # a miss, then a hit
        model = make()
        torch.manual_seed(5)
        aelib.load_or_train(model, X, **SETTINGS)
        states.append(torch.get_rng_state())
    assert torch.equal(*states), "a notebook's later random draws must not depend on whether the model was loaded"


def test_the_default_folder_is_beside_the_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AELIB_CACHE", raising=False)
    monkeypatch.setenv("AELIB_DATA", str(tmp_path))
    assert aelib.model_cache_dir() == tmp_path / "models"
    monkeypatch.setenv("AELIB_CACHE", str(tmp_path / "elsewhere"))
    assert aelib.model_cache_dir() == tmp_path / "elsewhere"
