"""Where mapping profiles come from: the built-ins, a workspace's ``profiles/`` folder, a file.

Owns: the built-in profiles and finding a profile by name or path, through the registry every
kind of definition shares (``servq.registry``): a name defined twice is an error naming both
files, so a user's profile never silently shadows a built-in one.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from servq.ingest.profile import Profile, load_profile_file, parse_profile
from servq.registry import DefinitionRegistry


@dataclass(frozen=True)
class ProfileEntry:
    profile: Profile
    origin: str  # "built-in" or the file path


def builtin_profiles() -> dict[str, ProfileEntry]:
    out: dict[str, ProfileEntry] = {}
    for entry in sorted(resources.files("servq.ingest.profiles").iterdir(), key=lambda e: e.name):
        if entry.name.endswith((".yaml", ".yml")):
            p = parse_profile(entry.read_text(encoding="utf-8"), f"servq:profiles/{entry.name}")
            out[p.name] = ProfileEntry(p, "built-in")
    return out


class ProfileRegistry(DefinitionRegistry[Profile, ProfileEntry]):
    """Built-in profiles plus any ``*.yaml`` in the given folders; names must be unique."""

    kind, plural = "profile", "profiles"

    def __init__(self, folders: list[Path] | None = None) -> None:
        super().__init__(builtin_profiles().values(), folders)

    def load_file(self, path: Path) -> Profile:
        return load_profile_file(path)

    def entry(self, item: Profile, origin: str) -> ProfileEntry:
        return ProfileEntry(item, origin)

    def value(self, entry: ProfileEntry) -> Profile:
        return entry.profile

    def origin(self, entry: ProfileEntry) -> str:
        return entry.origin

    def name_of(self, item: Profile) -> str:
        return item.name
