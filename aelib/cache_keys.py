"""The key of a trained model: a hash of everything that determines its weights (used by `aelib.cache`).

The model (class, structure, initial weights), the training settings, the seed, the data,
the profile and aelib's version. Functions passed as arguments (`corrupt`) are keyed by
name and code, with their defaults, closure values and `functools.partial` arguments; a
function defined in the notebook itself (module `__main__`) also by the globals it reads.
Anything else that cannot be keyed reliably is refused with an error rather than risk a
stale model.
"""

from __future__ import annotations

import dataclasses
import dis
import functools
import hashlib
import json
import types
from typing import Any

import numpy as np
import torch
from torch import nn

from .profiles import profile

__all__ = ["FORMAT", "key_of", "key_parts", "state_digest", "fingerprint", "clip"]

FORMAT = 1  # the layout of a cache file; bump it when that changes


def key_of(parts: dict[str, Any]) -> str:
    """Return the key: a SHA-256 of the key's parts, written as canonical JSON."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def key_parts(model: nn.Module, settings: dict[str, Any]) -> dict[str, Any]:
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


def fingerprint(t: torch.Tensor) -> dict[str, Any]:
    """Return a tensor's dtype, shape and a hash of its raw bytes (a quarter of a second for 60,000 images)."""
    t = t.detach().cpu().contiguous()
    raw = t.reshape(-1).view(torch.uint8).numpy()  # every dtype as bytes, without a copy
    return {"dtype": str(t.dtype), "shape": list(t.shape), "sha256": hashlib.sha256(raw).hexdigest()}


def state_digest(state: dict[str, torch.Tensor]) -> str:
    return hashlib.sha256(
        json.dumps({name: fingerprint(t) for name, t in state.items()}, sort_keys=True).encode()
    ).hexdigest()


def _encode_model(model: nn.Module, where: str, seen: frozenset[int]) -> dict[str, Any]:
    """Key a module by its classes (and their code where it is the notebook's), structure and current weights."""
    classes = list(dict.fromkeys(type(m) for m in model.modules()))  # in order of appearance, once each
    return {
        "classes": [_encode_class(c, f"{where} class {c.__qualname__}", seen | {id(model)}) for c in classes],
        "structure": repr(model),
        "state": {name: fingerprint(t) for name, t in model.state_dict().items()},
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
        return fingerprint(value)
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
    return clip(repr(value).replace("\n", " "), 60)


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
