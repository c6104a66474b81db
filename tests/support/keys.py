"""Keys files for ``openmlink serve --keys-file``: API keys bound to a user and a client firm
(docs: the ``[[key]]`` tables of a keys file), for the client-firm visibility tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class FirmKey:
    """One ``[[key]]`` table: the key, its userName, its clientFirm and, when not empty, the
    only message-type tokens it may use."""
    key: str
    user: str
    firm: str
    tokens: tuple[str, ...] = ()

    def toml(self) -> str:
        out = f'[[key]]\nkey = "{self.key}"\nuserName = "{self.user}"\nclientFirm = "{self.firm}"\n'
        if self.tokens:
            out += "tokens = [" + ", ".join(f'"{t}"' for t in self.tokens) + "]\n"
        return out


def keys_file(folder: Path, *keys: FirmKey) -> Path:
    """Write ``keys`` to ``folder/keys.toml``; its path."""
    path = folder / "keys.toml"
    path.write_text("\n".join(k.toml() for k in keys))
    return path
