"""The resolved lock plan: every input of a lock, resolved once, with where each value came from.

Precedence, per value: a flag given now > the `--virtual-packages` file > what the spec says > a flag recorded
in the existing lockfile (the lock remembers how it was made) > the default. `cenv lock`, `lock --check`,
`lock --update`, `create` and `diff` take a `LockPlan`; the lockfile records `plan.records()` in
`metadata.custom_metadata` and `RecordedInputs` reads them back, so a later command with no flags plans the
same lock. Only recorded values that came from a flag (or the environment, or the file) are carried: a value
the spec set is the spec's to change. The spec cannot leave channel priority unset, so a recorded
`--channel-priority` wins over the spec's default (`strict`) but not over a priority the spec spells out
differently.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from cenv.channels import ResolvedChannel, resolve_channels
from cenv.config import Config, current_config
from cenv.env_vars import DEFAULT_CHANNEL_ALIAS
from cenv.errors import UserError
from cenv.lock.keys import (
    CUSTOM_CHANNEL_ALIAS,
    CUSTOM_CHANNEL_PRIORITY,
    CUSTOM_EXCLUDE_NEWER,
    CUSTOM_INPUT_SOURCES,
    CUSTOM_PIP_OPTIONS,
    CUSTOM_VARIANT,
    CUSTOM_VIRTUAL_PACKAGE_SOURCES,
    CUSTOM_VIRTUAL_PACKAGES,
    format_pairs,
    parse_pairs,
)
from cenv.platforms import KNOWN_PLATFORMS, host_platform
from cenv.redact import strip_credentials
from cenv.settings import ChannelPriority, LockSettings
from cenv.virtual_packages import (
    Source,
    VirtualPackageOptions,
    VirtualPackages,
    VirtualPackageSpec,
    build_virtual_packages,
    load_virtual_packages_file,
    parse_virtual_packages,
)

if TYPE_CHECKING:
    from cenv.spec import PipOptions, Spec

__all__ = [
    "InputSource",
    "LockPlan",
    "PlatformPlan",
    "RecordedInputs",
    "recorded_time",
    "resolve_plan",
]

# Where a value came from. "lock": a flag recorded in the lockfile being re-read.
InputSource = Source
# Recorded values from these sources are re-applied by a later command (they stand for a flag).
_CARRIED: frozenset[str] = frozenset(("flag", "env", "file", "lock"))


@dataclass(frozen=True)
class PlatformPlan:
    platform: str
    specs: tuple[str, ...]  # the conda match specs, as written
    virtual_packages: VirtualPackages  # with each value's source
    pip: tuple[str, ...] = ()  # the spec's pip lines for this platform


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
            inputs = {"platforms": "lock"}
            sources = {p: {v.name: "lock" for v in vps.get(p, ())} for p in platforms}
        return cls(
            platforms=platforms,
            channels=channels,
            sources=inputs,
            channel_alias=custom.get(CUSTOM_CHANNEL_ALIAS),
            channel_priority=custom.get(CUSTOM_CHANNEL_PRIORITY),
            exclude_newer=custom.get(CUSTOM_EXCLUDE_NEWER),
            virtual_packages=vps,
            virtual_package_sources=sources,
        )

    def carried(self, name: str) -> bool:
        """Whether the recorded value of input `name` came from a flag (and so is re-applied)."""
        return self.sources.get(name) in _CARRIED

    def carried_virtual_packages(self, platform: str) -> dict[str, str]:
        """name -> "version build" for the virtual packages a flag or file set when `platform` was locked."""
        sources = self.virtual_package_sources.get(platform, {})
        return {
            p.name: f"{p.version} {p.build}"
            for p in self.virtual_packages.get(platform, ())
            if sources.get(p.name) in _CARRIED
        }

    def carried_absent(self, platform: str) -> set[str]:
        """Virtual packages a flag removed (`--cuda none`): recorded as `__cuda=flag` with no value."""
        sources = self.virtual_package_sources.get(platform, {})
        present = {p.name for p in self.virtual_packages.get(platform, ())}
        return {name for name, source in sources.items() if source in _CARRIED and name not in present}


@dataclass(frozen=True)
class LockPlan:
    """Every input of one lockfile (one variant), resolved."""

    spec_paths: tuple[Path, ...]
    output: Path
    platforms: tuple[PlatformPlan, ...]
    channel_names: tuple[str, ...]  # as written (spec or -c)
    channel_alias: str  # what bare names resolve through
    priority: ChannelPriority
    exclude_newer: datetime | None
    pip_options: PipOptions
    variant: str | None = None
    sources: Mapping[str, InputSource] = field(default_factory=dict)  # platforms, channels, ...
    offline: bool = False
    cache_dir: Path | None = None
    update: tuple[str, ...] | None = None
    output_given: bool = False  # -o was given (so a printed command needs it)
    # channels only a `chan::pkg` spec names: conda adds them to the solve, after the listed ones
    pinned_channels: tuple[str, ...] = ()

    @property
    def platform_names(self) -> tuple[str, ...]:
        return tuple(p.platform for p in self.platforms)

    def platform(self, name: str) -> PlatformPlan:
        return next(p for p in self.platforms if p.platform == name)

    def channels(self) -> list[ResolvedChannel]:
        """The channels resolved through `custom_channels` and the alias, then those only `chan::pkg` names
        (raises ChannelError for a missing local folder)."""
        return resolve_channels([*self.channel_names, *self.pinned_channels], self.channel_alias)

    def only(self, platforms: tuple[str, ...]) -> LockPlan:
        """The same plan for some of its platforms (`lock --check -p P`, `create` for one platform)."""
        return replace(self, platforms=tuple(p for p in self.platforms if p.platform in platforms))

    def records(self) -> dict[str, str]:
        """The plan's inputs as `custom_metadata` entries (credentials removed)."""
        custom: dict[str, str] = {
            CUSTOM_CHANNEL_PRIORITY: self.priority.value,
            CUSTOM_INPUT_SOURCES: format_pairs(dict(self.sources)),
        }
        if self.sources.get("channel-alias") != "default":
            custom[CUSTOM_CHANNEL_ALIAS] = strip_credentials(self.channel_alias)
        if self.variant is not None:
            custom[CUSTOM_VARIANT] = self.variant
        if self.exclude_newer is not None:
            custom[CUSTOM_EXCLUDE_NEWER] = self.exclude_newer.astimezone(timezone.utc).isoformat()
        pip = _pip_option_lines(self.pip_options)
        if pip:
            custom[CUSTOM_PIP_OPTIONS] = "\n".join(pip)
        for plan in self.platforms:
            vps = plan.virtual_packages
            custom[CUSTOM_VIRTUAL_PACKAGES + plan.platform] = ",".join(str(p) for p in vps.packages)
            custom[CUSTOM_VIRTUAL_PACKAGE_SOURCES + plan.platform] = format_pairs(dict(vps.sources))
        return custom

    def lock_command(self, *, platforms: tuple[str, ...] | None = None) -> str:
        """A `cenv lock` command that writes this plan's lockfile with these inputs, as typed in a shell.

        Inputs that came from the spec or a default are left to them; everything else is spelled out, so the
        command works the same with or without the existing lockfile."""
        args = ["cenv", "lock", *(str(p) for p in self.spec_paths)]
        if self.output_given:
            args += ["-o", str(self.output)]
        names = platforms if platforms is not None else self.platform_names
        if self.sources.get("platforms") not in ("spec", None) or platforms is not None:
            for name in names:
                args += ["-p", name]
        if self.sources.get("channels") not in ("spec", None):
            for name in self.channel_names:
                args += ["-c", strip_credentials(name)]
        if self.sources.get("channel-alias") in ("flag", "lock"):
            args += ["--channel-alias", strip_credentials(self.channel_alias)]
        if self.sources.get("channel-priority") in ("flag", "lock"):
            args += ["--channel-priority", self.priority.value]
        if self.sources.get("exclude-newer") in ("flag", "lock") and self.exclude_newer is not None:
            args += ["--exclude-newer", self.exclude_newer.astimezone(timezone.utc).isoformat()]
        args += _virtual_package_flags(self.platforms)
        if self.sources.get("pip-fallback") in ("flag", "lock"):
            args.append("--pip-fallback")
        if self.variant is not None:
            args += ["--variant", self.variant]
        return shlex.join(args)


def _virtual_package_flags(platforms: tuple[PlatformPlan, ...]) -> list[str]:
    """`--cuda/--glibc/--osx` for values that came from a flag or the lock (the first platform's value)."""
    args: list[str] = []
    for name, flag in (("__cuda", "--cuda"), ("__glibc", "--glibc"), ("__osx", "--osx")):
        for plan in platforms:
            vps = plan.virtual_packages
            if vps.sources.get(name) not in ("flag", "file", "lock"):
                continue
            value = vps.get(name)
            args += [flag, value.version if value is not None else "none"]
            break
    return args


def _pip_option_lines(options: PipOptions) -> list[str]:
    lines = []
    if options.index_url:
        lines.append(f"index-url={strip_credentials(options.index_url)}")
    lines += [f"extra-index-url={strip_credentials(u)}" for u in options.extra_index_urls]
    lines += [f"find-links={strip_credentials(u)}" for u in options.find_links]
    if options.pytorch_index:
        lines.append(f"pytorch-index={strip_credentials(options.pytorch_index)}")
    return lines


def _check_platforms(platforms: tuple[str, ...]) -> tuple[str, ...]:
    for platform in platforms:
        if platform not in KNOWN_PLATFORMS or platform == "noarch":
            raise UserError(
                f"unknown platform `{platform}`",
                hints=["valid platforms: " + ", ".join(p for p in KNOWN_PLATFORMS if p != "noarch")],
            )
    return tuple(dict.fromkeys(platforms))


def resolve_plan(settings: LockSettings, spec: Spec, recorded: RecordedInputs | None = None) -> LockPlan:
    """The plan for `settings` (the flags given now) and `spec`, filling gaps from `recorded`."""
    recorded = recorded or RecordedInputs()
    sources: dict[str, InputSource] = {}

    if settings.platforms:
        platforms, sources["platforms"] = settings.platforms, "flag"
    elif spec.platforms:
        platforms, sources["platforms"] = spec.platforms, "spec"
    elif recorded.carried("platforms") and recorded.platforms:
        platforms, sources["platforms"] = recorded.platforms, "lock"
    else:
        platforms, sources["platforms"] = (host_platform(),), "default"
    platforms = _check_platforms(platforms)

    config = current_config()  # .condarc files and CONDA_* variables (cenv.config)
    if settings.channels:
        channels, sources["channels"] = settings.channels, "flag"
    elif recorded.carried("channels") and recorded.channels:
        channels, sources["channels"] = recorded.channels, "lock"
    elif not spec.channels and config.channels:
        channels, sources["channels"] = config.channels, _config_source(config, "channels")
    else:
        channels, sources["channels"] = spec.channels, "spec"
    if not channels:
        raise UserError(
            "no channels: the spec lists none, no `-c/--channel` was given and no .condarc has `channels`",
            hints=["add `channels: [conda-forge]` to the spec"],
        )

    if settings.channel_alias:
        alias, sources["channel-alias"] = settings.channel_alias, "flag"
    elif config.channel_alias:
        alias, sources["channel-alias"] = config.channel_alias, _config_source(config, "channel_alias")
    elif recorded.carried("channel-alias") and recorded.channel_alias:
        alias, sources["channel-alias"] = recorded.channel_alias, "lock"
    else:
        alias, sources["channel-alias"] = DEFAULT_CHANNEL_ALIAS, "default"

    if settings.channel_priority is not None:
        priority, sources["channel-priority"] = settings.channel_priority, "flag"
    elif spec.channel_priority == ChannelPriority.STRICT and config.channel_priority:
        # the spec's default (strict) gives way to `channel_priority` of .condarc / CONDA_CHANNEL_PRIORITY
        priority = ChannelPriority(config.channel_priority)
        sources["channel-priority"] = _config_source(config, "channel_priority")
    elif (
        spec.channel_priority == ChannelPriority.STRICT
        and recorded.carried("channel-priority")
        and recorded.channel_priority in {p.value for p in ChannelPriority}
    ):
        priority, sources["channel-priority"] = ChannelPriority(recorded.channel_priority), "lock"
    else:
        priority, sources["channel-priority"] = ChannelPriority(spec.channel_priority), "spec"

    if settings.exclude_newer is not None:
        exclude_newer: datetime | None = settings.exclude_newer
        sources["exclude-newer"] = "flag"
    elif spec.exclude_newer is not None:
        exclude_newer, sources["exclude-newer"] = spec.exclude_newer, "spec"
    elif recorded.carried("exclude-newer") and recorded.exclude_newer:
        exclude_newer, sources["exclude-newer"] = recorded_time(recorded.exclude_newer), "lock"
    else:
        exclude_newer, sources["exclude-newer"] = None, "default"

    # `pip-fallback` is only ever turned on (no flag turns it off), so a recorded `--pip-fallback` also
    # outlasts a spec that spells out `pip-fallback: false`; recorded only when on, as `pip-fallback=SOURCE`.
    fallback = True
    if settings.pip_fallback:
        sources["pip-fallback"] = "flag"
    elif spec.pip_options.fallback:
        sources["pip-fallback"] = "spec"
    elif recorded.carried("pip-fallback"):
        sources["pip-fallback"] = "lock"
    else:
        fallback = False

    file_overrides = (
        load_virtual_packages_file(settings.virtual_packages_file) if settings.virtual_packages_file else {}
    )
    plans = []
    for platform in platforms:
        specs = tuple(d.spec for d in spec.dependencies_for(platform))
        if not specs:
            raise UserError(f"nothing to lock for {platform}: the spec has no conda dependencies")
        vps = _virtual_packages(platform, settings, file_overrides, spec.cuda_for(platform), recorded)
        pip = tuple(r.requirement for r in spec.pip_for(platform))
        plans.append(PlatformPlan(platform=platform, specs=specs, virtual_packages=vps, pip=pip))
    return LockPlan(
        spec_paths=settings.spec_paths,
        output=settings.lockfile_path(),
        platforms=tuple(plans),
        channel_names=tuple(channels),
        channel_alias=alias,
        priority=priority,
        exclude_newer=exclude_newer,
        pip_options=replace(spec.pip_options, fallback=fallback),
        variant=settings.variant,
        sources=sources,
        offline=settings.offline or config.offline,
        cache_dir=settings.cache_dir,
        update=settings.update,
        output_given=settings.lockfile is not None,
        pinned_channels=_pinned_channels(plans, channels),
    )


def _pinned_channels(platforms: list[PlatformPlan], listed: tuple[str, ...]) -> tuple[str, ...]:
    """The channels `chan::pkg` specs name that the channel list lacks (`defaults` stays conda's set)."""
    named = {n.strip().rstrip("/") for n in listed}
    pinned: list[str] = []
    for plan in platforms:
        for text in plan.specs:
            prefix, sep, _ = text.partition("::")
            name = prefix.strip().rstrip("/")
            if sep and name and name != "defaults" and name not in named and name not in pinned:
                pinned.append(name)
    return tuple(pinned)


def _config_source(config: Config, key: str) -> InputSource:
    """ "env" for a CONDA_* variable, "file" for a .condarc."""
    return "env" if config.sources.get(key, "").startswith("CONDA_") else "file"


def _virtual_packages(
    platform: str,
    settings: LockSettings,
    file_overrides: Mapping[str, Mapping[str, str]],
    spec_cuda: str | None,
    recorded: RecordedInputs,
) -> VirtualPackages:
    """flag > recorded flag > file > spec > default, each value with its source."""
    options = VirtualPackageOptions(
        cuda=settings.cuda,
        no_cuda=settings.no_cuda,
        glibc=settings.glibc,
        osx=settings.osx,
        file_overrides=file_overrides,
    )
    built = build_virtual_packages(platform, options, spec_cuda=spec_cuda)
    flagged = {name for name, source in built.sources.items() if source == "flag"}
    if settings.no_cuda:
        flagged.add("__cuda")
    chosen = {p.name: p for p in built.packages}
    sources: dict[str, Source] = dict(built.sources)
    if settings.no_cuda:
        sources["__cuda"] = "flag"  # recorded, so a later command keeps `--cuda none`
    given = flagged | {n for n, s in built.sources.items() if s in ("file", "spec")}
    for name, value in recorded.carried_virtual_packages(platform).items():
        if name in given:
            continue
        version, _, build = value.partition(" ")
        chosen[name] = VirtualPackageSpec(name=name, version=version, build=build or "0")
        sources[name] = "lock"
    for name in recorded.carried_absent(platform):
        if name in given:
            continue
        chosen.pop(name, None)
        sources[name] = "lock"
    packages = tuple(sorted(chosen.values(), key=lambda p: p.name))
    return VirtualPackages(platform=platform, packages=packages, sources=sources)


def recorded_time(text: str) -> datetime | None:
    """A timestamp as the lock records it (ISO 8601, `Z` allowed; naive means UTC); None when unreadable."""
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
