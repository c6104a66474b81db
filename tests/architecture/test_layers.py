"""The layer table of docs/architecture.md holds for the package (tools/check_layers.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_TOOL = Path(__file__).resolve().parents[2] / "tools" / "check_layers.py"
_spec = importlib.util.spec_from_file_location("check_layers", _TOOL)
assert _spec is not None and _spec.loader is not None
check_layers = importlib.util.module_from_spec(_spec)
sys.modules["check_layers"] = check_layers
_spec.loader.exec_module(check_layers)


def test_package_respects_layers_and_public_faces() -> None:
    assert check_layers.violations() == []


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "openmlink"
    for name, text in files.items():
        f = root / name
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text)
    return root


def test_checker_finds_a_kernel_importing_the_store(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "__init__.py": "", "store/__init__.py": "", "store/_table.py": "X = 1\n",
        "analytics/__init__.py": "", "analytics/_k.py": "def f():\n    from ..store import X\n",
    })
    bad = check_layers.violations(root)
    assert len(bad) == 1 and "'analytics' may not import 'store'" in bad[0]


def test_checker_finds_private_imports_across_packages_and_siblings(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "__init__.py": "", "schema/__init__.py": "", "schema/_codec.py": "X = 1\n",
        "query/__init__.py": "from ..schema._codec import X\n",
        "engines/__init__.py": "", "engines/a/__init__.py": "", "engines/a/_m.py": "Y = 1\n",
        "engines/b/__init__.py": "", "engines/b/_n.py": "from ..a._m import Y\nfrom ..a import Y\n",
    })
    bad = check_layers.violations(root)
    assert any("private module openmlink.schema._codec" in b for b in bad)
    assert any("private module of sibling engines/a" in b for b in bad)
    assert len(bad) == 2
