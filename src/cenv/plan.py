"""The resolved lock plan: every input of a lock, resolved once, with where each value came from.

A lock is a function of the spec's content and its inputs: platforms; virtual packages per platform;
channels, channel alias and priority; exclude-newer; pip-fallback; the variant. Each input is resolved by
`cenv.precedence.resolve_input` over one ordered table of providers: flag > the lock's recorded flags >
`CONDA_*` variable > `.condarc` > `--virtual-packages` file > variant > spec > the lock's other recorded
values > default, and the winning provider is recorded as the value's source in
`metadata.custom_metadata` (`plan.records()`). `RecordedInputs` reads them back: what came from the command
line replays as a flag, so `lock --check`, `create SPEC`, `--relock` and a re-lock with no flags plan the
same lock as the recorded command. Where a recorded flag overrides what the spec (or the variant) says,
`LockPlan.overrides` says so. Two inputs have only some providers: .condarc's `channels` are conda's
default channel list (used when the spec lists none), and a `cuda: null` variant's `__cuda` comes from the
variant alone (it never assumes one: `--cuda` applies to the variants that use CUDA).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from cenv.channels import ResolvedChannel, resolve_channels
from cenv.config import Config, current_config
from cenv.env_vars import DEFAULT_CHANNEL_ALIAS
from cenv.errors import UsageError, UserError
from cenv.lock.keys import (
    CUSTOM_CHANNEL_ALIAS,
    CUSTOM_CHANNEL_PRIORITY,
    CUSTOM_EXCLUDE_NEWER,
    CUSTOM_INPUT_SOURCES,
    CUSTOM_OVERRIDDEN,
    CUSTOM_PIP_OPTIONS,
    CUSTOM_VARIANT,
    CUSTOM_VIRTUAL_PACKAGE_SOURCES,
    CUSTOM_VIRTUAL_PACKAGES,
    format_pairs,
)
from cenv.platforms import KNOWN_PLATFORMS, host_platform
from cenv.precedence import ABSENT, Absent, Provider, resolve_input
from cenv.recorded import RecordedInputs, recorded_time
from cenv.redact import strip_credentials
from cenv.settings import ChannelPriority, LockSettings
from cenv.virtual_packages import (
    Source,
    VirtualPackages,
    VirtualPackageSpec,
    defaults_for,
    load_virtual_packages_file,
    parse_value,
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

# Where a value came from: one of `cenv.precedence.PROVIDERS`.
InputSource = Source
T = TypeVar("T")


@dataclass(frozen=True)
class PlatformPlan:
    platform: str
    specs: tuple[str, ...]  # the conda match specs, as written
    virtual_packages: VirtualPackages  # with each value's source
    pip: tuple[str, ...] = ()  # the spec's pip lines for this platform


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
    # one line per recorded flag that overrides what the spec or variant says (`lock --check` shows them)
    overrides: tuple[str, ...] = ()
    overridden: Mapping[str, str] = field(default_factory=dict)  # recorded as CUSTOM_OVERRIDDEN
    named_variant: bool = False  # `--variant X` was given, so `-o PATH` is this variant's lockfile
    given_output: Path | None = None  # `-o` as given (before a variant's name went into it)

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
            CUSTOM_INPUT_SOURCES: format_pairs(_as_recorded(self.sources)),
        }
        if self.sources.get("channel-alias") != "default":
            custom[CUSTOM_CHANNEL_ALIAS] = strip_credentials(self.channel_alias)
        if self.variant is not None:
            custom[CUSTOM_VARIANT] = self.variant
        if self.overridden:
            custom[CUSTOM_OVERRIDDEN] = format_pairs(dict(self.overridden))
        if self.exclude_newer is not None:
            custom[CUSTOM_EXCLUDE_NEWER] = self.exclude_newer.astimezone(timezone.utc).isoformat()
        pip = _pip_option_lines(self.pip_options)
        if pip:
            custom[CUSTOM_PIP_OPTIONS] = "\n".join(pip)
        for plan in self.platforms:
            vps = plan.virtual_packages
            custom[CUSTOM_VIRTUAL_PACKAGES + plan.platform] = ",".join(str(p) for p in vps.packages)
            custom[CUSTOM_VIRTUAL_PACKAGE_SOURCES + plan.platform] = format_pairs(_as_recorded(vps.sources))
        return custom

    def lock_command(self, *, platforms: tuple[str, ...] | None = None, all_variants: bool = False) -> str:
        """A `cenv lock` command that writes this plan's lockfile with these inputs, as typed in a shell
        (`all_variants`: every variant's lockfile of the spec, with this variant's inputs).

        Inputs that came from the spec or a default are left to them; everything else is spelled out, so the
        command works the same with or without the existing lockfile."""
        args = ["cenv", "lock", *(str(p) for p in self.spec_paths)]
        if self.output_given and all_variants and self.given_output is not None:
            args += ["-o", str(self.given_output)]
        elif self.output_given:
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
        if self.variant is not None and not all_variants:
            args += ["--variant", self.variant]
        import shlex  # here: only hints spell the command (issue #21: start-up)

        return shlex.join(args)


def _as_recorded(sources: Mapping[str, str]) -> dict[str, str]:
    """Sources as the lock records them: a replayed flag ("lock") is the flag it was, so a re-lock with no
    flags writes the same bytes as the recorded command."""
    return {name: "flag" if source == "lock" else source for name, source in sources.items()}


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


def _check_platforms(platforms: tuple[str, ...], source: Provider) -> tuple[str, ...]:
    error = UsageError if source == "flag" else UserError  # `-p linux-46`: a usage error (exit 2)
    for platform in platforms:
        if platform not in KNOWN_PLATFORMS or platform == "noarch":
            raise error(
                f"unknown platform `{platform}`",
                hints=["valid platforms: " + ", ".join(p for p in KNOWN_PLATFORMS if p != "noarch")],
            )
    return tuple(dict.fromkeys(platforms))


def resolve_plan(settings: LockSettings, spec: Spec, recorded: RecordedInputs | None = None) -> LockPlan:
    """The plan for `settings` (the flags given now) and `spec`, with the existing lock's `recorded` inputs:
    each input resolved by `resolve_input` over the providers of `cenv.precedence`."""
    if recorded is None or settings.ignore_recorded:
        recorded = RecordedInputs()
    config = current_config()  # .condarc files and CONDA_* variables (cenv.config)
    resolved = _Resolved(recorded)

    platforms = resolved.pick(
        "platforms",
        {
            "flag": settings.platforms or None,
            **recorded.at("platforms", recorded.platforms),
            "spec": spec.platforms or None,
        },
        (host_platform(),),
    )
    platforms = _check_platforms(platforms, resolved.sources["platforms"])

    # conda's `channels` of .condarc are the channels used when the spec lists none: the default slot
    channels = resolved.pick(
        "channels",
        {
            "flag": settings.channels or None,
            **recorded.at("channels", recorded.channels),
            "spec": spec.channels or None,
            "default": config.channels or None,
        },
        (),
    )
    if resolved.sources["channels"] == "default" and config.channels:
        resolved.sources["channels"] = _config_slot(config, "channels")
    if not channels:
        raise UserError(
            "no channels: the spec lists none, no `-c/--channel` was given and no .condarc has `channels`",
            hints=["add `channels: [conda-forge]` to the spec"],
        )

    alias = resolved.pick(
        "channel-alias",
        {
            "flag": settings.channel_alias,
            **recorded.at("channel-alias", recorded.channel_alias),
            _config_slot(config, "channel_alias"): config.channel_alias or None,
        },
        DEFAULT_CHANNEL_ALIAS,
    )

    recorded_priority = recorded.channel_priority if recorded.channel_priority in _PRIORITIES else None
    priority = resolved.pick(
        "channel-priority",
        {
            "flag": settings.channel_priority,
            **recorded.at(
                "channel-priority", ChannelPriority(recorded_priority) if recorded_priority else None
            ),
            _config_slot(config, "channel_priority"): (
                ChannelPriority(config.channel_priority) if config.channel_priority else None
            ),
            # the spec cannot leave its priority unset: `strict`, its default, is the default's
            "spec": spec.channel_priority if spec.channel_priority != ChannelPriority.STRICT else None,
        },
        ChannelPriority.STRICT,
    )

    exclude_newer = resolved.pick(
        "exclude-newer",
        {
            "flag": settings.exclude_newer,
            **recorded.at(
                "exclude-newer", recorded_time(recorded.exclude_newer) if recorded.exclude_newer else None
            ),
            "spec": spec.exclude_newer,
        },
        None,
    )

    # `pip-fallback` is only ever turned on (no flag turns it off): recorded only when on
    fallback = resolved.pick(
        "pip-fallback",
        {
            "flag": True if settings.pip_fallback else None,
            **recorded.at("pip-fallback", True),
            "spec": True if spec.pip_options.fallback else None,
        },
        False,
    )
    if not fallback:
        resolved.sources.pop("pip-fallback")

    file_overrides = (
        load_virtual_packages_file(settings.virtual_packages_file) if settings.virtual_packages_file else {}
    )
    plans = []
    for platform in platforms:
        specs = tuple(d.spec for d in spec.dependencies_for(platform))
        if not specs:
            raise UserError(f"nothing to lock for {platform}: the spec has no conda dependencies")
        vps = _virtual_packages(platform, settings, file_overrides, spec, resolved)
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
        sources=dict(resolved.sources),
        offline=settings.offline or config.offline,
        cache_dir=settings.cache_dir,
        update=settings.update,
        output_given=settings.lockfile is not None,
        pinned_channels=_pinned_channels(plans, channels),
        overrides=tuple(resolved.overrides),
        overridden=dict(resolved.overridden),
        named_variant=settings.named_variant,
        given_output=settings.lockfile,
    )


_PRIORITIES = frozenset(p.value for p in ChannelPriority)

# How an input's recorded flag reads on a command line (for "the recorded `-c X` overrides ...").
_FLAGS = {
    "platforms": "-p",
    "channels": "-c",
    "channel-priority": "--channel-priority",
    "exclude-newer": "--exclude-newer",
    "__cuda": "--cuda",
    "__glibc": "--glibc",
    "__osx": "--osx",
}


class _Resolved:
    """The sources of the inputs resolved so far, and the recorded flags that override what the spec (or
    the variant) says now."""

    def __init__(self, recorded: RecordedInputs) -> None:
        self.recorded = recorded
        self.sources: dict[str, InputSource] = {}
        self.overrides: list[str] = []
        self.overridden: dict[str, str] = {}

    def pick(self, name: str, candidates: Mapping[Provider, T | None], default: T) -> T:
        value, source = resolve_input(candidates, default)
        self.sources[name] = source
        self.note(name, value, source, candidates)
        return value

    def note(
        self,
        name: str,
        value: object,
        source: Provider,
        candidates: Mapping[Provider, object],
        platform: str | None = None,
    ) -> None:
        """Keep the digest of a spec (or variant) value a flag overrides; say when a recorded flag overrides
        one that changed since the lock was written."""
        below = next(((p, candidates[p]) for p in ("variant", "spec") if candidates.get(p) is not None), None)
        if source not in ("flag", "lock") or below is None or below[1] == value or name not in _FLAGS:
            return
        key = f"{name}/{platform}" if platform else name
        digest = hashlib.sha256(_shown(below[1]).encode()).hexdigest()[:16]
        self.overridden[key] = digest
        if source == "lock" and self.recorded.overridden.get(key) != digest:
            where = f"the {below[0]}'s {name}" + (f" for {platform}" if platform else "")
            flag = _FLAGS[name]
            self.overrides.append(
                f"the lock's recorded `{flag} {_shown(value)}` overrides {where} `{_shown(below[1])}`"
            )


def _shown(value: object) -> str:
    if isinstance(value, tuple):
        return " ".join(str(v) for v in value)
    if isinstance(value, VirtualPackageSpec):
        return value.version
    if isinstance(value, Absent):
        return "none"
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat()
    return str(value)


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


def _config_slot(config: Config, key: str) -> Provider:
    """ "env" for a CONDA_* variable, "condarc" for a .condarc."""
    return "env" if config.sources.get(key, "").startswith("CONDA_") else "condarc"


_CUDA_FAMILIES = ("linux", "win")


def _virtual_packages(
    platform: str,
    settings: LockSettings,
    file_overrides: Mapping[str, Mapping[str, str]],
    spec: Spec,
    resolved: _Resolved,
) -> VirtualPackages:
    """Each virtual package of `platform` resolved over the providers; a `cuda: null` variant's `__cuda`
    has the variant alone (no flag, file or recorded value gives it one)."""
    family = platform.split("-", 1)[0]
    defaults = defaults_for(platform)
    recorded = resolved.recorded
    cpu_variant = spec.variant is not None and not _uses_cuda(spec.cuda)
    flags: dict[str, VirtualPackageSpec | Absent | None] = {
        "__glibc": _vp("__glibc", settings.glibc) if family == "linux" else None,
        "__osx": _vp("__osx", settings.osx) if family == "osx" else None,
        "__cuda": None,
    }
    if family in _CUDA_FAMILIES:
        flags["__cuda"] = ABSENT if settings.no_cuda else _vp("__cuda", settings.cuda)
    spec_cuda = _vp("__cuda", spec.cuda_for(platform)) if family in _CUDA_FAMILIES else None
    names = {*defaults, *file_overrides.get(platform, {}), "__cuda"}
    names |= recorded.virtual_package_names(platform)
    chosen: dict[str, VirtualPackageSpec] = {}
    sources: dict[str, Source] = {}
    for name in sorted(names):
        candidates: dict[Provider, VirtualPackageSpec | Absent | None] = {}
        if name == "__cuda" and cpu_variant:
            candidates["variant"] = ABSENT
        else:
            candidates["flag"] = flags.get(name)
            candidates.update(
                recorded.virtual_package(platform, name, settings.virtual_packages_file is not None)
            )
            text = file_overrides.get(platform, {}).get(name)
            candidates["file"] = parse_value(name, text) if text is not None else None
            if name == "__cuda" and spec.variant is not None:
                candidates["variant"] = spec_cuda or ABSENT
            elif name == "__cuda":
                candidates["spec"] = spec_cuda
            candidates["default"] = defaults.get(name)
        value, source = resolve_input(candidates, ABSENT)
        resolved.note(name, value, source, candidates, platform)
        if source == "lock" and recorded.virtual_package_sources.get(platform, {}).get(name) == "file":
            source = "file"  # the recorded file's value stays the file's: a file given later replaces it
        if isinstance(value, VirtualPackageSpec):
            chosen[name] = value
            sources[name] = source
        elif source != "default":
            sources[name] = source  # recorded, so a later command keeps `--cuda none`
    packages = tuple(sorted(chosen.values(), key=lambda p: p.name))
    return VirtualPackages(platform=platform, packages=packages, sources=sources)


def _vp(name: str, version: str | None) -> VirtualPackageSpec | None:
    return VirtualPackageSpec(name=name, version=version) if version is not None else None


def _uses_cuda(cuda: str | Mapping[str, str | None] | None) -> bool:
    if isinstance(cuda, Mapping):
        return any(v is not None for v in cuda.values())
    return cuda is not None
