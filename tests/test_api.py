"""The public surface: ``segment_braze.__all__`` changes only on purpose.

Adding, removing or renaming a public name must be a deliberate edit of this file (and a
CHANGELOG entry). Every public name is importable and documented, and the package ships
``py.typed`` so type checkers read its annotations.
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import importlib.resources
import inspect
import itertools
import re
import sys
import tempfile
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

import segment_braze as sb

PUBLIC = [
    "DEFAULT_RULES",
    "Alias",
    "CohortName",
    "CohortUsers",
    "Context",
    "Delete",
    "DeliveryReport",
    "ErrorDetail",
    "EventLine",
    "Explanation",
    "Group",
    "HttpRequest",
    "Identify",
    "InvalidEvent",
    "InvalidSettings",
    "MemoryStore",
    "Notice",
    "Outcome",
    "Page",
    "Problem",
    "ReadFailure",
    "Rule",
    "RuleTableError",
    "SQLiteStore",
    "Scope",
    "ScratchStore",
    "Screen",
    "SegmentBrazeError",
    "Settings",
    "Skip",
    "StateStore",
    "SubscriptionStatusSet",
    "Track",
    "Tracker",
    "Translation",
    "Translator",
    "UsersAliasNew",
    "UsersDelete",
    "UsersIdentify",
    "UsersMerge",
    "UsersTrack",
    "batch",
    "both",
    "deliver",
    "deliver_async",
    "explain",
    "interpret_response",
    "iter_batches",
    "on_audience",
    "on_context_traits",
    "on_create_alias",
    "on_ecommerce",
    "on_ecommerce_order",
    "on_event",
    "on_filtered_event",
    "on_no_identifier",
    "on_purchase",
    "on_subscription_state",
    "on_type",
    "on_untracked_page",
    "otherwise",
    "read_events",
    "translate",
]


def isort_key(name: str) -> tuple[int, str]:
    """How ``__all__`` is sorted: CONSTANTS, then Classes, then functions."""
    if name.isupper():
        return (0, name)
    return (1, name) if name[:1].isupper() else (2, name)


def test_all_is_pinned() -> None:
    """``__all__`` is exactly the pinned list."""
    assert sb.__all__ == PUBLIC


def test_all_is_sorted_without_duplicates() -> None:
    """``__all__`` is sorted (constants, classes, functions) and names each name once."""
    assert sorted(sb.__all__, key=isort_key) == sb.__all__
    assert len(set(sb.__all__)) == len(sb.__all__)


def test_no_public_name_outside_all() -> None:
    """Every public attribute of the package is either in ``__all__`` or a submodule."""
    stray = [name for name, value in vars(sb).items()
             if not name.startswith("_") and name not in sb.__all__
             and not isinstance(value, ModuleType) and name != "annotations"]
    assert stray == []


def test_star_import_gives_exactly_all() -> None:
    """``from segment_braze import *`` binds exactly the names of ``__all__``."""
    namespace: dict[str, object] = {}
    exec("from segment_braze import *", namespace)  # noqa: S102 - a fixed statement
    assert sorted(k for k in namespace if k != "__builtins__") == sorted(PUBLIC)


@pytest.mark.parametrize("name", PUBLIC)
def test_name_is_importable(name: str) -> None:
    """Each public name imports from the package itself."""
    module = importlib.import_module("segment_braze")
    assert getattr(module, name) is getattr(sb, name)


def _assignment_docstring(module: ModuleType, name: str) -> str | None:
    """The string literal right after ``name = ...`` (or ``name: T = ...``) in
    ``module``'s source: how constants are documented."""
    tree = ast.parse(inspect.getsource(module))
    body = tree.body
    for statement, following in itertools.pairwise(body):
        targets: list[ast.expr] = []
        if isinstance(statement, ast.Assign):
            targets = statement.targets
        elif isinstance(statement, ast.AnnAssign):
            targets = [statement.target]
        if any(isinstance(t, ast.Name) and t.id == name for t in targets) and (
                isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)):
            return following.value.value
    return None


def _defining_module(name: str) -> ModuleType:
    """The package module (among those ``import segment_braze`` loaded) that assigns
    ``name`` with a docstring."""
    loaded = sorted(m for m in sys.modules if m.startswith("segment_braze."))
    for module_name in loaded:
        module = sys.modules[module_name]
        if name in vars(module) and _assignment_docstring(module, name) is not None:
            return module
    raise AssertionError(f"{name} is not assigned with a docstring in any module")


@pytest.mark.parametrize("name", PUBLIC)
def test_name_is_documented(name: str) -> None:
    """Each public name has a docstring of its own (not one inherited from a base)."""
    value = getattr(sb, name)
    if inspect.isclass(value):
        doc = vars(value).get("__doc__")
    elif inspect.isfunction(value):
        doc = value.__doc__
    else:
        doc = _assignment_docstring(_defining_module(name), name)
    assert isinstance(doc, str)
    assert doc.strip()


def test_package_is_documented() -> None:
    """The package docstring says what the library is."""
    assert sb.__doc__ is not None
    assert "Braze" in sb.__doc__


def test_exception_tree() -> None:
    """Errors are ours and built-in ones at once, as documented."""
    assert issubclass(sb.InvalidEvent, sb.SegmentBrazeError)
    assert issubclass(sb.InvalidEvent, ValueError)
    assert issubclass(sb.InvalidSettings, sb.SegmentBrazeError)
    assert issubclass(sb.InvalidSettings, ValueError)
    assert issubclass(sb.RuleTableError, sb.SegmentBrazeError)
    assert issubclass(sb.RuleTableError, TypeError)


def test_py_typed_is_in_the_package() -> None:
    """``py.typed`` sits beside the package's modules."""
    marker = importlib.resources.files("segment_braze") / "py.typed"
    assert marker.is_file()


def test_py_typed_is_in_the_wheel() -> None:
    """The built distribution ships ``py.typed``: the installed file list says so for a
    regular install; for an editable one the wheel is built and opened."""
    files = importlib.metadata.distribution("segment-braze").files or []
    names = {f.as_posix() for f in files}
    if "segment_braze/__init__.py" in names:
        assert "segment_braze/py.typed" in names
        return
    root = Path(sb.__file__).resolve().parents[2]
    try:
        from hatchling.builders.wheel import WheelBuilder
    except ImportError:
        # Without the build backend, the wheel target must name the package directory
        # that holds py.typed (hatchling ships every file in it).
        text = (root / "pyproject.toml").read_text(encoding="utf-8")
        section = text.split("[tool.hatch.build.targets.wheel]", 1)[1].split("\n[", 1)[0]
        assert re.search(r'packages\s*=\s*\[\s*"src/segment_braze"\s*\]', section)
        assert (root / "src" / "segment_braze" / "py.typed").is_file()
        return
    with tempfile.TemporaryDirectory() as directory:
        (wheel,) = WheelBuilder(str(root)).build(directory=directory, versions=["standard"])
        with zipfile.ZipFile(wheel) as archive:
            assert "segment_braze/py.typed" in archive.namelist()
