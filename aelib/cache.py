"""Train a model once, load it after that: a cache of trained autoencoders (used from lecture 1 on).

`load_or_train` takes the arguments of `train_autoencoder`, and `load_or_train_together`
those of `train_together`. Each trained model is stored in a file of its own under
`$AELIB_CACHE`, keyed by everything that determines its weights (`aelib.cache_keys`); the
device is not part of the key, as it only changes float rounding, and neither is whether
a model was trained alone or together with others. On a hit the weights and the History
(loss curves, snapshots) are loaded, and one short line says so (`AELIB_VERBOSE=1` adds
when, how long and which file); on a miss the model is trained and stored, atomically.
`AELIB_RETRAIN=1` trains again and overwrites. The loops a lecture teaches still train in
front of the student; the cache serves the later, repeated trainings (seeds, sweeps,
variants, re-use across lectures).
"""

from __future__ import annotations

import inspect
import json
import os
import shutil
import tempfile
import time
import zipfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .cache_keys import FORMAT, clip, key_of, key_parts, state_digest
from .data import default_root, shown_path
from .runtime import get_device
from .together import train_together
from .training import History, count_parameters, train_autoencoder

__all__ = ["load_or_train", "load_or_train_together", "model_cache_dir"]

NOT_KEYED = ("model", "device", "progress", "graph")  # train_autoencoder's arguments that do not change the weights


def model_cache_dir() -> Path:
    """Return the model cache folder: `$AELIB_CACHE` if set, else `models/` in the data folder (`~/.cache/aelib`)."""
    return Path(os.environ.get("AELIB_CACHE") or default_root() / "models")


class _Slot:
    """Where one model's trained weights live in the cache, and what its key is made of."""

    def __init__(self, model: nn.Module, train_images: torch.Tensor, kwargs: dict[str, Any]) -> None:
        bound = inspect.signature(train_autoencoder).bind(model, train_images, **kwargs)
        bound.apply_defaults()  # lr=1e-3 given or left out is the same key
        self.arguments = bound.arguments
        self.parts = key_parts(model, {n: v for n, v in self.arguments.items() if n not in NOT_KEYED})
        self.key = key_of(self.parts)
        self.path = model_cache_dir() / f"{type(model).__name__}-{self.key[:20]}.pt"
        self.model = model

    def load(self) -> History | None:
        """Load the stored weights into the model (on its device, in eval mode); return the History, or None."""
        if os.environ.get("AELIB_RETRAIN", "").strip() == "1" or not self.path.exists():
            return None
        entry = _read(self.path, self.key, self.model)
        if entry is None:
            return None
        self.model.to(get_device(self.arguments["device"]))
        self.model.load_state_dict(entry["state_dict"])
        self.model.eval()
        if _verbose():
            when = datetime.fromisoformat(entry["trained_at"]).strftime("%Y-%m-%d %H:%M")
            seconds = entry["train_seconds"]
            print(f"Model cache: {entry['description']}: trained {when} in {seconds:.0f} s, {_shown(self.path)}")
        h = entry["history"]
        return History(list(h["train_loss"]), list(h["test_loss"]), dict(h["snapshots"]))

    def store(self, history: History, seconds: float) -> None:
        """Write the trained model and its History, atomically; a failed write costs the cache, never the model."""
        num_epochs, images = self.arguments["num_epochs"], self.arguments["train_images"]
        state = {name: t.detach().cpu() for name, t in self.model.state_dict().items()}
        entry = {
            "format": FORMAT,
            "key": self.key,
            "description": _describe(self.model, self.arguments["seed"])
            + f" ({count_parameters(self.model):,} parameters; {num_epochs} epoch{'s' * (num_epochs != 1)} "
            f"on {len(images):,} images, profile '{self.parts['profile']}')",
            "trained_at": datetime.now().astimezone().isoformat(timespec="seconds"),
            "train_seconds": seconds,
            "key_parts": json.dumps(self.parts, sort_keys=True, indent=1),  # to see why a later call missed
            "state_dict": state,
            "weights_digest": state_digest(state),
            "history": {
                "train_loss": [float(v) for v in history.train_loss],
                "test_loss": [float(v) for v in history.test_loss],
                "snapshots": {int(e): x.detach().cpu() for e, x in history.snapshots.items()},
            },
        }
        try:
            _write_atomically(self.path, entry)
        except (
            OSError,
            RuntimeError,
        ) as err:  # a read-only or full disk (torch.save reports the latter as RuntimeError)
            print(
                f"Model cache: could not store {_shown(self.path)} ({_why_not_written(self.path, err)}); "
                "the model is trained, and will be trained again next time"
            )


def load_or_train(model: nn.Module, train_images: torch.Tensor, **kwargs: Any) -> History:
    """Load `model`'s trained weights and History from the cache, or train it with `train_autoencoder` and store them.

    Takes exactly the arguments of `train_autoencoder`, and leaves the model as it does:
    trained, on `device`, in eval mode. A load prints one short line. A corrupt cache
    file is reported in one line and the model is trained again.

    Raises:
        TypeError: an argument that cannot be keyed reliably (e.g. an object with hidden
            state as `corrupt`); call `train_autoencoder` directly for it.
    """
    slot = _Slot(model, train_images, kwargs)
    history = slot.load()
    if history is not None:
        print(f"Loaded from the model cache: {_describe(model, slot.arguments['seed'])}")
        return history
    start = time.perf_counter()
    history = train_autoencoder(model, train_images, **kwargs)
    slot.store(history, time.perf_counter() - start)
    return history


def load_or_train_together(
    models: Sequence[nn.Module],
    train_images: torch.Tensor | Sequence[torch.Tensor],
    *,
    seeds: Sequence[int],
    **kwargs: Any,
) -> list[History]:
    """Load each model from the cache, and train the ones it lacks together with `train_together`; store each.

    Takes the arguments of `train_together`. Each model is keyed and stored as
    `load_or_train(model, its images, seed=its seed, ...)` would: either serves the other.
    """
    if len(seeds) != len(models):
        raise ValueError(f"one seed per model: got {len(models)} models and {len(seeds)} seeds")
    shared = isinstance(train_images, torch.Tensor)
    images = [train_images] * len(models) if shared else list(train_images)
    slots = [_Slot(m, x, {**kwargs, "seed": s}) for m, x, s in zip(models, images, seeds, strict=True)]
    histories = [slot.load() for slot in slots]
    missing = [i for i, h in enumerate(histories) if h is None]
    if missing:
        start = time.perf_counter()
        trained = train_together(
            [models[i] for i in missing],
            train_images if shared else [images[i] for i in missing],
            seeds=[seeds[i] for i in missing],
            **kwargs,
        )
        seconds = (time.perf_counter() - start) / len(missing)
        for i, history in zip(missing, trained, strict=True):
            slots[i].store(history, seconds)
            histories[i] = history
    loaded = [seeds[i] for i in range(len(models)) if i not in missing]
    if loaded:
        what = f"{len(loaded)} {type(models[0]).__name__} (seed{'s' * (len(loaded) > 1)} {_listed(loaded)})"
        trained_too = f"; trained {len(missing)} more together" if missing else ""
        print(f"Loaded from the model cache: {what}{trained_too}")
    return histories


def _describe(model: nn.Module, seed: int) -> str:
    return f"{type(model).__name__}, seed {seed}"


def _listed(values: Sequence[Any]) -> str:
    return ", ".join(str(v) for v in values)


def _verbose() -> bool:
    return os.environ.get("AELIB_VERBOSE", "").strip() == "1"


def _read(path: Path, key: str, model: nn.Module) -> dict[str, Any] | None:
    """Return the checked entry stored at `path`, or None after one line saying why it cannot be used."""
    try:
        if not zipfile.is_zipfile(path):  # what torch.save writes; a truncated file has lost its end
            raise ValueError("not a whole PyTorch file: truncated or overwritten")
        entry = torch.load(path, map_location="cpu", weights_only=True)  # tensors, numbers and strings only
        _check_entry(entry, key, model)
    except Exception as err:  # whatever is wrong with the file, the cure is the same: train again
        reason = f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else 'no details'}"
        print(f"Model cache: {_shown(path)} is unreadable ({clip(reason, 90)}); training again and replacing it")
        return None
    return entry


def _check_entry(entry: Any, key: str, model: nn.Module) -> None:
    """Raise ValueError unless `entry` is a complete cache entry for `key` that fits `model`."""
    if not isinstance(entry, dict) or entry.get("format") != FORMAT:
        raise ValueError(f"not a cache entry of format {FORMAT}")
    if entry.get("key") != key:
        raise ValueError("stored under another key")
    missing = {"description", "trained_at", "train_seconds", "state_dict", "weights_digest", "history"} - entry.keys()
    if missing:
        raise ValueError(f"missing {sorted(missing)}")
    expected = {name: (t.shape, t.dtype) for name, t in model.state_dict().items()}
    stored = {name: (t.shape, t.dtype) for name, t in entry["state_dict"].items()}
    if stored != expected:  # checked before loading: a failed load must not leave the model half overwritten
        raise ValueError("its weights do not fit the model")
    if state_digest(entry["state_dict"]) != entry["weights_digest"]:
        raise ValueError("its weights do not match their checksum")
    history = entry["history"]
    if not {"train_loss", "test_loss", "snapshots"} <= history.keys():
        raise ValueError("incomplete history")


def _write_atomically(path: Path, entry: dict[str, Any]) -> None:
    """Write `entry` to a temporary file beside `path`, then rename it: `path` is whole or absent, never partial."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(entry, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _why_not_written(path: Path, err: Exception) -> str:
    """Say in a few words why a write failed: a full disk by its free space, anything else by its error."""
    try:
        free = shutil.disk_usage(path.parent).free
    except OSError:
        free = None
    if free is not None and free < 64 * 2**20:  # torch.save's own error on a full disk says nothing about space
        return f"the disk is full: {free / 2**20:.1f} MB free; free some space or point AELIB_CACHE elsewhere"
    return clip(f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else 'no details'}", 120)


def _shown(path: Path) -> str:
    """Return `path` as the user would name it: under $AELIB_CACHE or ~, not this machine's absolute path."""
    return shown_path(path, "AELIB_CACHE")
