"""Train a model once, load it after that: a cache of trained autoencoders (used from lecture 1 on).

`load_or_train` takes the arguments of `train_autoencoder`. It keys the trained
weights by a hash of everything that determines them: the model (class, structure,
initial weights), the training settings, the seed, the data, the profile and
aelib's version. The device is not part of the key: it only changes float rounding.
On a hit it loads the weights and the History (loss curves, snapshots) and prints
one line saying so; on a miss it trains and stores both, atomically, in one file
under `$AELIB_CACHE`. `AELIB_RETRAIN=1` trains again and overwrites. The loops a
lecture teaches still train in front of the student; the cache serves the later,
repeated trainings (seeds, sweeps, variants, re-use across lectures).

Functions passed as arguments (`corrupt`) are keyed by name and code, with their
defaults, closure values and `functools.partial` arguments; a function defined in the
notebook itself (module `__main__`) also by the globals it reads. Anything else that
cannot be keyed reliably is refused with an error rather than risk a stale model.
"""

from __future__ import annotations

import dataclasses
import dis
import functools
import hashlib
import inspect
import json
import os
import tempfile
import time
import types
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .data import default_root
from .profiles import profile
from .runtime import get_device
from .training import History, count_parameters, train_autoencoder

__all__ = ["load_or_train", "model_cache_dir"]

FORMAT = 1  # the layout of a cache file; bump it when that changes
NOT_KEYED = ("model", "device", "progress")  # train_autoencoder's arguments that do not change the weights


def model_cache_dir() -> Path:
    """Return the model cache folder: `$AELIB_CACHE` if set, else `models/` in the data folder (`~/.cache/aelib`)."""
    return Path(os.environ.get("AELIB_CACHE") or default_root() / "models")


def load_or_train(model: nn.Module, train_images: torch.Tensor, **kwargs: Any) -> History:
    """Load `model`'s trained weights and History from the cache, or train it with `train_autoencoder` and store them.

    Takes exactly the arguments of `train_autoencoder`, and leaves the model as it does:
    trained, on `device`, in eval mode. A load prints one line: what, when it was trained,
    and how to train it again (`AELIB_RETRAIN=1`, or delete the file). A corrupt cache
    file is reported in one line and the model is trained again.

    Raises:
        TypeError: an argument that cannot be keyed reliably (e.g. an object with hidden
            state as `corrupt`); call `train_autoencoder` directly for it.
    """
    bound = inspect.signature(train_autoencoder).bind(model, train_images, **kwargs)
    bound.apply_defaults()  # lr=1e-3 given or left out is the same key
    arguments = bound.arguments
    parts = _key_parts(model, {name: value for name, value in arguments.items() if name not in NOT_KEYED})
    key = _key_of(parts)
    path = model_cache_dir() / f"{type(model).__name__}-{key[:20]}.pt"
    device = get_device(arguments["device"])

    if os.environ.get("AELIB_RETRAIN", "").strip() != "1" and path.exists():
        entry = _read(path, key, model)
        if entry is not None:
            return _load(model, entry, device, path)
    return _train_and_store(model, train_images, kwargs, arguments, parts, path)


def _load(model: nn.Module, entry: dict[str, Any], device: torch.device, path: Path) -> History:
    """Put the stored weights into `model` (on `device`, in eval mode), say so in one line; return the History."""
    model.to(device)
    model.load_state_dict(entry["state_dict"])
    model.eval()
    when = datetime.fromisoformat(entry["trained_at"]).strftime("%Y-%m-%d %H:%M")
    print(
        f"Loaded {entry['description']} from the model cache, "
        f"trained {when} in {entry['train_seconds']:.0f} s; "
        f"to train it again set AELIB_RETRAIN=1 or delete {_shown(path)}"
    )
    h = entry["history"]
    return History(train_loss=list(h["train_loss"]), test_loss=list(h["test_loss"]), snapshots=dict(h["snapshots"]))


def _train_and_store(
    model: nn.Module,
    train_images: torch.Tensor,
    kwargs: dict[str, Any],
    arguments: dict[str, Any],
    parts: dict[str, Any],
    path: Path,
) -> History:
    """Train `model` with `train_autoencoder`; store its weights and History at `path`, atomically."""
    num_epochs = arguments["num_epochs"]
    description = (
        f"{type(model).__name__} ({count_parameters(model):,} parameters; {num_epochs} epoch{'s' * (num_epochs != 1)} "
        f"on {len(train_images):,} images, seed {arguments['seed']}, profile '{parts['profile']}')"
    )
    start = time.perf_counter()
    history = train_autoencoder(model, train_images, **kwargs)
    state = {name: t.detach().cpu() for name, t in model.state_dict().items()}
    entry = {
        "format": FORMAT,
        "key": _key_of(parts),
        "description": description,
        "trained_at": datetime.now().astimezone().isoformat(timespec="seconds"),
        "train_seconds": time.perf_counter() - start,
        "key_parts": json.dumps(parts, sort_keys=True, indent=1),  # to see why a later call missed
        "state_dict": state,
        "weights_digest": _state_digest(state),
        "history": {
            "train_loss": [float(v) for v in history.train_loss],
            "test_loss": [float(v) for v in history.test_loss],
            "snapshots": {int(e): x.detach().cpu() for e, x in history.snapshots.items()},
        },
    }
    try:
        _write_atomically(path, entry)
    except OSError as err:  # a read-only or full disk costs the cache, never the trained model
        print(
            f"Model cache: could not store {_shown(path)} ({err}); "
            "the model is trained but will be trained again next time"
        )
    return history


def _key_of(parts: dict[str, Any]) -> str:
    """Return the key: a SHA-256 of the key's parts, written as canonical JSON."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _key_parts(model: nn.Module, settings: dict[str, Any]) -> dict[str, Any]:
    """Return everything that determines the trained weights, as JSON-ready values (tensors as fingerprints)."""
    from . import __version__  # here, not at import time: aelib/__init__.py imports this module

    data = {name: settings.pop(name) for name in list(settings) if name.endswith(("_images", "_targets"))}
    return {
        "model": _encode_model(model, "model", frozenset()),
        "settings": {name: _encode(value, name, frozenset()) for name, value in settings.items() if name != "seed"},
        "seed": _encode(settings["seed"], "seed", frozenset()),
        "data": {name: _encode(value, name, frozenset()) for name, value in data.items()},
        "profile": profile().name,
        "aelib": __version__,
        "format": FORMAT,
    }


def _fingerprint(t: torch.Tensor) -> dict[str, Any]:
    """Return a tensor's dtype, shape and a hash of its raw bytes (a quarter of a second for 60,000 images)."""
    t = t.detach().cpu().contiguous()
    raw = t.reshape(-1).view(torch.uint8).numpy()  # every dtype as bytes, without a copy
    return {"dtype": str(t.dtype), "shape": list(t.shape), "sha256": hashlib.sha256(raw).hexdigest()}


def _state_digest(state: dict[str, torch.Tensor]) -> str:
    return hashlib.sha256(
        json.dumps({name: _fingerprint(t) for name, t in state.items()}, sort_keys=True).encode()
    ).hexdigest()


def _encode_model(model: nn.Module, where: str, seen: frozenset[int]) -> dict[str, Any]:
    """Key a module by its classes (and their code where it is the notebook's), structure and current weights."""
    classes = list(dict.fromkeys(type(m) for m in model.modules()))  # in order of appearance, once each
    return {
        "classes": [_encode_class(c, f"{where} class {c.__qualname__}", seen | {id(model)}) for c in classes],
        "structure": repr(model),
        "state": {name: _fingerprint(t) for name, t in model.state_dict().items()},
        "frozen": sorted(name for name, p in model.named_parameters() if not p.requires_grad),
    }


def _user_code(module: str, qualname: str) -> bool:
    """Whether code is the notebook's own (or local to a function): its name alone does not pin it down."""
    return module == "__main__" or "<locals>" in qualname


def _encode_class(cls: type, where: str, seen: frozenset[int]) -> dict[str, Any]:
    out: dict[str, Any] = {"class": f"{cls.__module__}.{cls.__qualname__}"}
    methods = {}
    for base in cls.__mro__:
        if _user_code(base.__module__, base.__qualname__) and id(base) not in seen:
            for name, attribute in sorted(vars(base).items()):
                function = getattr(attribute, "__func__", attribute)  # staticmethod, classmethod
                if isinstance(function, types.FunctionType):
                    methods[f"{base.__qualname__}.{name}"] = _encode(function, f"{where}.{name}", seen | {id(base)})
    if methods:
        out["methods"] = methods
    return out


def _encode(value: Any, where: str, seen: frozenset[int]) -> Any:
    """Return `value` as JSON-ready data that changes whenever the value could change training; refuse the rest."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, torch.Tensor):
        return _fingerprint(value)
    if isinstance(value, np.ndarray):
        return {
            "ndarray": str(value.dtype),
            "shape": list(value.shape),
            "sha256": hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest(),
        }
    if isinstance(value, np.generic):
        return _encode(value.item(), where, seen)
    if isinstance(value, torch.device):
        return "device"  # never part of the key, not even through a function's globals
    if isinstance(value, torch.dtype):
        return str(value)
    if isinstance(value, range):
        return {"range": [value.start, value.stop, value.step]}
    if isinstance(value, (list, tuple)):
        return [_encode(v, f"{where}[{i}]", seen) for i, v in enumerate(value)]
    if isinstance(value, (set, frozenset)):
        return {"set": sorted((_encode(v, f"{where} item", seen) for v in value), key=json.dumps)}
    if isinstance(value, dict):
        items = [[_encode(k, f"{where} key", seen), _encode(v, f"{where}[{k!r}]", seen)] for k, v in value.items()]
        return {"dict": sorted(items, key=json.dumps)}
    if id(value) in seen:  # a function that calls itself, a module that holds itself
        return {"again": getattr(value, "__qualname__", type(value).__qualname__)}
    seen = seen | {id(value)}
    if isinstance(value, types.ModuleType):
        return {"module": value.__name__}
    if isinstance(value, type):
        return _encode_class(value, where, seen)
    if isinstance(value, functools.partial):
        return {
            "partial": _encode(value.func, f"{where}.func", seen),
            "args": _encode(value.args, f"{where}.args", seen),
            "keywords": _encode(value.keywords, f"{where}.keywords", seen),
        }
    if isinstance(value, types.FunctionType):
        return _encode_function(value, where, seen)
    if isinstance(value, types.MethodType):
        return {
            "method": _encode(value.__func__, where, seen),
            "self": _encode(value.__self__, f"{where}.__self__", seen),
        }
    if isinstance(value, types.BuiltinFunctionType):  # torch.rand, math.sqrt: compiled, named by module and name
        return {"builtin": f"{getattr(value, '__module__', None)}.{value.__qualname__}"}
    if isinstance(value, nn.Module):
        return _encode_model(value, where, seen)
    if dataclasses.is_dataclass(value):  # aelib.Snapshots and the like: keyed field by field
        fields = {f.name: _encode(getattr(value, f.name), f"{where}.{f.name}", seen) for f in dataclasses.fields(value)}
        return {"dataclass": _encode_class(type(value), where, seen), "fields": fields}
    raise TypeError(
        f"load_or_train cannot key {where} = {_short(value)} (a {type(value).__module__}.{type(value).__qualname__}): "
        "it keys numbers, strings, tensors, arrays, aelib.Snapshots, modules, "
        "and functions or functools.partial of those; "
        "pass one of these, or train with aelib.train_autoencoder instead"
    )


def _encode_function(fn: types.FunctionType, where: str, seen: frozenset[int]) -> dict[str, Any]:
    """Key a Python function by name, code, defaults and closure values, and the notebook globals it reads."""
    out: dict[str, Any] = {
        "function": f"{fn.__module__}.{fn.__qualname__}",
        "code": _code_digest(fn.__code__),
        "defaults": _encode(fn.__defaults__, f"{where} defaults", seen),
        "kwdefaults": _encode(fn.__kwdefaults__, f"{where} keyword defaults", seen),
    }
    cells = {}
    for name, cell in zip(fn.__code__.co_freevars, fn.__closure__ or (), strict=True):
        try:
            cells[name] = _encode(cell.cell_contents, f"{where} closure variable {name!r}", seen)
        except ValueError:  # a cell not yet filled
            cells[name] = {"empty": True}
    out["closure"] = cells
    if fn.__module__ == "__main__":  # a notebook's globals change between runs; a library's come with its version
        names = sorted(_global_names(fn.__code__) & fn.__globals__.keys())
        out["globals"] = {name: _encode(fn.__globals__[name], f"{where} global {name!r}", seen) for name in names}
    return out


def _global_names(code: types.CodeType) -> set[str]:
    """Return the global names that `code` (and the functions and comprehensions inside it) reads."""
    names = {ins.argval for ins in dis.get_instructions(code) if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME")}
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


def _code_digest(code: types.CodeType) -> str:
    """Hash what a code object does: its bytecode, the names it uses and its constants (not its line numbers)."""
    h = hashlib.sha256(code.co_code)
    h.update(repr(code.co_names).encode())
    for const in code.co_consts:
        h.update((_code_digest(const) if isinstance(const, types.CodeType) else _const_repr(const)).encode())
    return h.hexdigest()


def _const_repr(const: Any) -> str:
    if isinstance(const, frozenset):  # `x in {"a", "b"}`: its order changes with the string hash seed
        return "frozenset(" + ",".join(sorted(_const_repr(c) for c in const)) + ")"
    if isinstance(const, tuple):
        return "(" + ",".join(_const_repr(c) for c in const) + ")"
    return repr(const)


def _short(value: Any) -> str:
    return _clip(repr(value).replace("\n", " "), 60)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _read(path: Path, key: str, model: nn.Module) -> dict[str, Any] | None:
    """Return the checked entry stored at `path`, or None after one line saying why it cannot be used."""
    try:
        if not zipfile.is_zipfile(path):  # what torch.save writes; a truncated file has lost its end
            raise ValueError("not a whole PyTorch file: truncated or overwritten")
        entry = torch.load(path, map_location="cpu", weights_only=True)  # tensors, numbers and strings only
        _check_entry(entry, key, model)
    except Exception as err:  # whatever is wrong with the file, the cure is the same: train again
        reason = f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else 'no details'}"
        print(f"Model cache: {_shown(path)} is unreadable ({_clip(reason, 90)}); training again and replacing it")
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
    if _state_digest(entry["state_dict"]) != entry["weights_digest"]:
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


def _shown(path: Path) -> str:
    """Return `path` as the user would name it: under $AELIB_CACHE or ~, not this machine's absolute path."""
    if os.environ.get("AELIB_CACHE") and path.parent == model_cache_dir():
        return f"$AELIB_CACHE/{path.name}"
    try:
        return f"~/{path.relative_to(Path.home())}"
    except ValueError:
        return str(path)
