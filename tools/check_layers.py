"""Check the package layering of ARCHITECTURE.md and docs/architecture.md.

Two rules, over every module under ``openmlink/`` (imports at any depth, also inside functions):

1. Layers: a package imports only the packages its row of ``ALLOWED`` names.
2. Public faces: a package imports another package only through that package's ``__init__``
   exports or its public (not ``_``-prefixed) modules, never through a private module.  Inside
   ``engines/`` and ``trading/`` the same holds between sibling subpackages.

Run ``python tools/check_layers.py`` (CI does); exit status 1 and one line per violation.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "openmlink"

#: package -> the openmlink packages it may import ("*" = any).  Top-level modules
#: (``clock``, ``errors``, ``timeutil``, ``gcpolicy``) are shared by everyone and listed as packages.
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "timeutil": set(),
    "clock": set(),
    "gcpolicy": set(),
    "config": {"errors"},
    "schema": {"errors", "timeutil"},
    "analytics": set(),
    "query": {"schema", "errors", "timeutil"},
    "store": {"schema", "query", "bus", "errors", "timeutil"},
    "bus": {"schema", "errors", "clock"},
    "market": {"schema", "bus", "clock", "analytics", "errors", "timeutil"},
    "engines": {"schema", "query", "store", "bus", "clock", "analytics", "market", "errors",
                "timeutil"},
    "trading": {"schema", "query", "store", "bus", "clock", "analytics", "market", "engines",
                "srse", "errors", "timeutil", "config", "gcpolicy"},
    "srse": {"schema", "query", "store", "bus", "clock", "errors", "timeutil", "config"},
    "gateway": {"schema", "query", "store", "bus", "clock", "errors", "timeutil", "config",
                "gcpolicy"},
    "runtime": {"*"},
    "platform": {"*"},
    "cli": {"*"},
    "client": {"schema", "errors"},
    "__main__": {"*"},
}

#: packages whose subpackages are separate components (siblings meet only at public faces)
COMPONENT_PARENTS = {"engines", "trading"}


def _module_parts(path: Path, root: Path) -> list[str]:
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return parts


def _imports(path: Path, root: Path) -> list[tuple[int, list[str]]]:
    """(line, absolute module parts) of every openmlink import in ``path``."""
    tree = ast.parse(path.read_text(), str(path))
    here = _module_parts(path, root)
    pkg = here if path.name == "__init__.py" else here[:-1]
    out: list[tuple[int, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "openmlink":
                    out.append((node.lineno, a.name.split(".")))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg[: len(pkg) - (node.level - 1)]
                mod = base + (node.module.split(".") if node.module else [])
            elif node.module and node.module.split(".")[0] == "openmlink":
                mod = node.module.split(".")
            else:
                continue
            # ``from . import _x`` names a module too
            for a in node.names:
                sub = [*mod, a.name]
                out.append((node.lineno, sub if (root.parent / Path(*sub)).with_suffix(".py").exists()
                            or (root.parent / Path(*sub)).is_dir() else mod))
    return out


def violations(root: Path = ROOT) -> list[str]:
    """One line per violation in the package at ``root`` (a directory named openmlink)."""
    found: list[str] = []
    for path in sorted(root.rglob("*.py")):
        if "data" in path.relative_to(root).parts:
            continue
        here = _module_parts(path, root)
        own = here[1] if len(here) > 1 else "openmlink"
        rel = path.relative_to(root.parent)
        for line, mod in _imports(path, root):
            if len(mod) < 2 or mod[0] != "openmlink":
                continue
            target = mod[1]
            if target != own:
                allowed = ALLOWED.get(own)
                if allowed is None:
                    found.append(f"{rel}:{line}: package '{own}' has no row in ALLOWED")
                elif "*" not in allowed and target not in allowed:
                    found.append(f"{rel}:{line}: '{own}' may not import '{target}' "
                                 f"({'.'.join(mod)})")
                if any(p.startswith("_") and p != "__init__" for p in mod[2:]):
                    found.append(f"{rel}:{line}: private module {'.'.join(mod)} imported from "
                                 f"outside '{target}' (use its __init__ exports)")
            elif own in COMPONENT_PARENTS and len(here) > 2 and len(mod) > 3:
                mine, theirs = here[2], mod[2]
                if mine != theirs and any(p.startswith("_") for p in mod[3:]):
                    found.append(f"{rel}:{line}: {own}/{mine} imports {'.'.join(mod)}, a private "
                                 f"module of sibling {own}/{theirs}")
    return found


def main() -> int:
    bad = violations()
    for line in bad:
        print(line)
    print(f"check_layers: {len(bad)} violation(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
