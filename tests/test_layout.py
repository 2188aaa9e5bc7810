"""The import rule of the rooms (README: Design), read from the source with ``ast``: nothing is imported to check it.

- ``models/`` imports nothing from ``streams``, ``agents`` or ``tests``: it is the pure domain.
- the runtime (``streams/`` outside ``streams/tools/``) never imports ``agents`` or ``streams.tools``: the worker
  carries no tooling; the one module that imports ``agents`` (to start a worker) is ``streams/tools/cli.py``.
- ``agents/`` never imports ``streams.tools``.
- no module under ``tests/`` imports a test module (``test_*.py``, ``conftest.py``): what tests share lives in
  ``tests/support/`` (or in a folder's own helper module, such as ``tests/unit/factories.py``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, root: Path = ROOT) -> Iterator[tuple[int, str]]:
    """(line, module) for every import in the file, at any depth (a function's local import counts too).

    ``from a.b import c`` yields ``a.b`` and ``a.b.c`` (c may be a module); relative imports are resolved
    against the file's own package.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module_name(path, root).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            yield node.lineno, module
            for alias in node.names:
                yield node.lineno, f"{module}.{alias.name}"


def is_under(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def is_test_module(module: str, root: Path = ROOT) -> bool:
    """A module of tests/ that pytest collects or loads as a conftest (a file that exists, not a name in one)."""
    path = root.joinpath(*module.split(".")).with_suffix(".py")
    is_test = path.name.startswith("test_") or path.name == "conftest.py"
    return is_under(module, "tests") and path.is_file() and is_test


def python_files(folder: str, root: Path = ROOT) -> list[Path]:
    return sorted(path for path in (root / folder).rglob("*.py") if "__pycache__" not in path.parts)


def breaches(folder: str, forbidden: tuple[str, ...], *, skip: str | None = None) -> str:
    """The imports in ``folder`` of anything under ``forbidden``, one a line (empty: none)."""
    found = []
    for path in python_files(folder):
        if skip is not None and is_under(module_name(path), skip):
            continue
        for line, module in imported_modules(path):
            if any(is_under(module, package) for package in forbidden):
                found.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return "\n".join(found)


def test_the_reader_sees_relative_local_and_from_package_imports(tmp_path: Path) -> None:
    # A reader that missed any of these would pass every check below without having read anything.
    (tmp_path / "tests" / "unit").mkdir(parents=True)
    (tmp_path / "tests" / "integration").mkdir()
    (tmp_path / "tests" / "integration" / "test_pipeline.py").write_text("")
    (tmp_path / "tests" / "integration" / "conftest.py").write_text("")
    (tmp_path / "tests" / "support").mkdir()
    (tmp_path / "tests" / "support" / "kafka_io.py").write_text("")
    sample = tmp_path / "tests" / "unit" / "test_sample.py"
    sample.write_text(
        "from ..integration.test_pipeline import scenario\n"
        "from . import factories\n"
        "from tests.integration import conftest\n"
        "def f():\n"
        "    import agents.web\n"
        "    from streams.tools import cli\n"
    )
    found = {module for _, module in imported_modules(sample, tmp_path)}
    expected = {"tests.integration.test_pipeline", "tests.unit.factories", "tests.integration.conftest"}
    assert expected | {"agents.web", "streams.tools.cli"} <= found
    assert {module for module in found if is_test_module(module, tmp_path)} == {
        "tests.integration.test_pipeline",
        "tests.integration.conftest",
    }
    assert not is_test_module("tests.support.kafka_io", tmp_path)


def test_models_import_nothing_above_them() -> None:
    found = breaches("models", ("streams", "agents", "tests"))
    assert not found, found


def test_the_runtime_never_imports_agents_or_the_tools() -> None:
    assert python_files("streams/tools"), "streams/tools/ moved: update this test and the README's design section"
    found = breaches("streams", ("agents", "streams.tools", "tests"), skip="streams.tools")
    assert not found, found


def test_agents_never_import_the_tools() -> None:
    found = breaches("agents", ("streams.tools", "tests"))
    assert not found, found


def test_the_cli_is_the_one_tool_that_imports_agents() -> None:
    importers = {
        module_name(path)
        for path in python_files("streams/tools")
        if any(is_under(module, "agents") for _, module in imported_modules(path))
    }
    assert importers == {"streams.tools.cli"}


def test_no_test_module_imports_another() -> None:
    found = []
    for path in python_files("tests"):
        own = module_name(path)
        for line, module in imported_modules(path):
            if module != own and is_test_module(module):
                found.append(f"{path.relative_to(ROOT)}:{line} imports {module} (shared helpers: tests/support/)")
    assert not found, "\n".join(found)
