"""Every function, class, method and property that densekit._core binds says what it does."""

import inspect
import re

import pytest

from densekit import _core


def _bound_objects():
    modules = [_core, _core.kernels, _core.layers]
    for module in modules:
        for name, obj in vars(module).items():
            if name.startswith("_") or inspect.ismodule(obj):
                continue
            yield f"{module.__name__}.{name}", obj
            if inspect.isclass(obj) and not hasattr(obj, "__members__"):  # enums: pybind11's own
                for attr, member in vars(obj).items():
                    if attr.startswith("_") and attr != "__init__":
                        continue
                    if callable(member) or isinstance(member, property):
                        yield f"{module.__name__}.{name}.{attr}", member


def _description(obj):
    """The docstring without pybind11's generated signature lines."""
    doc = inspect.getdoc(obj) or ""
    lines = [line for line in doc.splitlines() if line.strip()]
    # pybind11 puts "name(args) -> result" first (one per overload, numbered); drop those.
    signature = re.compile(r"^(\d+\. )?\w+\(")
    return [line for line in lines if not signature.match(line) and line != "Overloaded function."]


BOUND = list(_bound_objects())


@pytest.mark.parametrize("name, obj", BOUND, ids=[name for name, _ in BOUND])
def test_every_binding_has_a_docstring(name, obj):
    if inspect.isclass(obj) or isinstance(obj, property):
        assert (obj.__doc__ or "").strip(), f"{name} has no docstring"
        return
    assert _description(obj), f"{name} has only its signature: {obj.__doc__!r}"
