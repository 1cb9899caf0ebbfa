"""What an existing lockfile says about how it was made: its recorded inputs, each with its source, and
where each replays in the precedence table (`cenv.precedence.replay_slot`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TypeVar

from cenv.lock.keys import (
    CUSTOM_CHANNEL_ALIAS,
    CUSTOM_CHANNEL_PRIORITY,
    CUSTOM_EXCLUDE_NEWER,
    CUSTOM_INPUT_SOURCES,
    CUSTOM_OVERRIDDEN,
    CUSTOM_VIRTUAL_PACKAGE_SOURCES,
    CUSTOM_VIRTUAL_PACKAGES,
    parse_pairs,
)
from cenv.precedence import ABSENT, Absent, Provider, replay_slot
from cenv.virtual_packages import VirtualPackageSpec, parse_virtual_packages

__all__ = ["RecordedInputs", "recorded_time"]

T = TypeVar("T")


@dataclass(frozen=True)
class RecordedInputs:
    """What an existing lockfile says about how it was made (empty for other tools' locks)."""

    platforms: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()  # metadata.channels, as written
    sources: Mapping[str, str] = field(default_factory=dict)  # input -> source, e.g. platforms=flag
    channel_alias: str | None = None
    channel_priority: str | None = None
    exclude_newer: str | None = None
    virtual_packages: Mapping[str, tuple[VirtualPackageSpec, ...]] = field(default_factory=dict)
    virtual_package_sources: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    overridden: Mapping[str, str] = field(default_factory=dict)  # input -> digest of the overridden value

    @classmethod
    def from_metadata(
        cls, custom: Mapping[str, str] | None, platforms: tuple[str, ...], channels: tuple[str, ...]
    ) -> RecordedInputs:
        custom = custom or {}
        vps = {
            p: parse_virtual_packages(custom[CUSTOM_VIRTUAL_PACKAGES + p])
            for p in platforms
            if CUSTOM_VIRTUAL_PACKAGES + p in custom
        }
        sources = {p: parse_pairs(custom.get(CUSTOM_VIRTUAL_PACKAGE_SOURCES + p)) for p in platforms}
        inputs = parse_pairs(custom.get(CUSTOM_INPUT_SOURCES))
        if CUSTOM_INPUT_SOURCES not in custom:
            # A lock from before inputs were recorded: its platforms and virtual packages are all it says
            # about how it was made, so they fill whatever the flags and the spec leave open.
            inputs = {"platforms": "recorded"}
            sources = {p: {v.name: "recorded" for v in vps.get(p, ())} for p in platforms}
        return cls(
            platforms=platforms,
            channels=channels,
            sources=inputs,
            channel_alias=custom.get(CUSTOM_CHANNEL_ALIAS),
            channel_priority=custom.get(CUSTOM_CHANNEL_PRIORITY),
            exclude_newer=custom.get(CUSTOM_EXCLUDE_NEWER),
            virtual_packages=vps,
            virtual_package_sources=sources,
            overridden=parse_pairs(custom.get(CUSTOM_OVERRIDDEN)),
        )

    def at(self, name: str, value: T | None) -> dict[Provider, T]:
        """The recorded `value` of input `name` in its replay slot (`{}` when it is not replayed)."""
        source = self.sources.get(name)
        # a lock-wide input recorded as "file" came from a .condarc (cenv before issue #23 named it so)
        slot = replay_slot("condarc" if source == "file" else source)
        return {slot: value} if slot is not None and value is not None and value != () else {}

    def virtual_package(
        self, platform: str, name: str, file_given: bool = False
    ) -> dict[Provider, VirtualPackageSpec | Absent]:
        """The recorded value of virtual package `name` for `platform` in its replay slot; ABSENT where a
        flag removed it (`--cuda none`: recorded as `__cuda=flag` with no value). A value the recorded
        `--virtual-packages` file gave is not replayed when a file is given now (that file replaces it)."""
        source = self.virtual_package_sources.get(platform, {}).get(name)
        slot = replay_slot(source)
        if slot is None or (source == "file" and file_given):
            return {}
        found = next((p for p in self.virtual_packages.get(platform, ()) if p.name == name), None)
        return {slot: found if found is not None else ABSENT}

    def virtual_package_names(self, platform: str) -> set[str]:
        return set(self.virtual_package_sources.get(platform, {})) | {
            p.name for p in self.virtual_packages.get(platform, ())
        }


def recorded_time(text: str) -> datetime | None:
    """A timestamp as the lock records it (ISO 8601, `Z` allowed; naive means UTC); None when unreadable."""
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
