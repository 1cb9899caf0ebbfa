"""Issue #23: one precedence model. Every input of a lock resolved by one function over one ordered table.

The matrix: for each input and each provider that can give it a value, that provider and every provider
below it are present (each with its own value) and those above are absent; `resolve_plan` must pick that
provider's value and record it as the source. The README's precedence sentence is checked against the
same table (`cenv.precedence.readme_precedence`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from tests.cli_helpers import REPO

from cenv.plan import LockPlan, RecordedInputs, resolve_plan
from cenv.precedence import ABSENT, PROVIDERS, readme_precedence, replay_slot, resolve_input
from cenv.settings import ChannelPriority, LockSettings
from cenv.spec import load_spec


@dataclass
class Scenario:
    """What each provider contributes, built up provider by provider."""

    tmp: Path
    monkeypatch: pytest.MonkeyPatch
    flags: dict[str, Any] = field(default_factory=dict)
    spec_lines: list[str] = field(default_factory=list)
    variant: str | None = None  # the spec gets `variants:` and is locked as this one
    variants_text: str = ""
    recorded: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    vp_recorded: dict[str, str] = field(default_factory=dict)  # name -> version ("" = absent)
    vp_sources: dict[str, str] = field(default_factory=dict)
    vp_file: dict[str, str] = field(default_factory=dict)
    condarc: list[str] = field(default_factory=list)

    def plan(self, platform: str) -> LockPlan:
        body = "\n".join(["dependencies: [python]", *self.spec_lines])
        if self.variants_text:
            body += "\n" + self.variants_text
        if not any(line.startswith("channels:") for line in self.spec_lines) and "channels" not in self.flags:
            body += "\nchannels: [base]" if "no-spec-channels" not in self.recorded else ""
        spec_path = self.tmp / "env.yml"
        spec_path.write_text(body + "\n")
        spec = load_spec([spec_path])
        if self.variant is not None:
            spec = spec.with_variant(self.variant)
        if self.condarc:
            home = Path(self.tmp / "home")
            home.mkdir(exist_ok=True)
            (home / ".condarc").write_text("\n".join(self.condarc) + "\n")
            self.monkeypatch.setenv("CONDARC", str(home / ".condarc"))
        vp_file = None
        if self.vp_file:
            vp_file = self.tmp / "vp.yml"
            packages = "".join(f"      {k}: '{v}'\n" for k, v in self.vp_file.items())
            vp_file.write_text(f"subdirs:\n  {platform}:\n    packages:\n{packages}")
        flags = dict(self.flags)
        flags.setdefault("platforms", (platform,))
        settings = LockSettings(spec_paths=(spec_path,), virtual_packages_file=vp_file, **flags)
        recorded_platforms = self.recorded.get("platforms", (platform,))
        vps = ",".join(f"{k}={v}=0" for k, v in self.vp_recorded.items() if v)
        custom = {f"cenv.virtual-packages.{p}": vps for p in recorded_platforms}
        custom.update(
            {
                f"cenv.virtual-package-sources.{p}": ",".join(f"{k}={v}" for k, v in self.vp_sources.items())
                for p in recorded_platforms
            }
        )
        custom["cenv.input-sources"] = ",".join(f"{k}={v}" for k, v in self.sources.items())
        for key in ("channel-alias", "channel-priority", "exclude-newer"):
            if key in self.recorded:
                custom[f"cenv.{key}"] = self.recorded[key]
        recorded = RecordedInputs.from_metadata(
            custom, tuple(recorded_platforms), tuple(self.recorded.get("channels", ()))
        )
        return resolve_plan(settings, spec, recorded)


Provide = Callable[[Scenario], None]


def _recorded(name: str, value: Any, source: str) -> Provide:
    def provide(s: Scenario) -> None:
        s.recorded[name] = value
        s.sources[name] = source

    return provide


def _flag(name: str, value: Any) -> Provide:
    def provide(s: Scenario) -> None:
        s.flags[name] = value

    return provide


def _spec(line: str) -> Provide:
    def provide(s: Scenario) -> None:
        s.spec_lines.append(line)

    return provide


def _env(name: str, value: str) -> Provide:
    def provide(s: Scenario) -> None:
        s.monkeypatch.setenv(name, value)

    return provide


def _condarc(line: str) -> Provide:
    def provide(s: Scenario) -> None:
        s.condarc.append(line)

    return provide


def _vp_recorded(name: str, version: str, source: str) -> Provide:
    def provide(s: Scenario) -> None:
        s.vp_recorded[name] = version
        s.vp_sources[name] = source

    return provide


def _vp_file(name: str, version: str) -> Provide:
    def provide(s: Scenario) -> None:
        s.vp_file[name] = version

    return provide


def _variant(cuda: str) -> Provide:
    def provide(s: Scenario) -> None:
        s.variants_text = f'variants:\n  gpu: {{cuda: "{cuda}"}}\n  cpu: {{cuda: null}}'
        s.variant = "gpu"

    return provide


def _nothing(s: Scenario) -> None:
    return None


def _no_spec_channels(s: Scenario) -> None:
    s.recorded["no-spec-channels"] = True


T0 = "2024-01-01T00:00:00+00:00"

# input -> [(provider, how it provides, expected value)], highest first; the last row is the default.
MATRIX: dict[str, list[tuple[str, Provide, Any]]] = {
    "platforms": [
        ("flag", _flag("platforms", ("linux-aarch64",)), ("linux-aarch64",)),
        ("lock", _recorded("platforms", ("osx-64",), "flag"), ("osx-64",)),
        ("spec", _spec("platforms: [win-64]"), ("win-64",)),
        ("recorded", _recorded("platforms", ("osx-arm64",), "recorded"), ("osx-arm64",)),
    ],
    "channels": [
        ("flag", _flag("channels", ("f",)), ("f",)),
        ("lock", _recorded("channels", ("l",), "flag"), ("l",)),
        ("spec", _spec("channels: [s]"), ("s",)),
        ("recorded", _recorded("channels", ("r",), "condarc"), ("r",)),
        # .condarc's `channels` are conda's default list: below everything the spec or lock says
        ("condarc", _condarc("channels: [c]"), ("c",)),
    ],
    "channel-alias": [
        ("flag", _flag("channel_alias", "https://flag.example"), "https://flag.example"),
        ("lock", _recorded("channel-alias", "https://lock.example", "flag"), "https://lock.example"),
        ("env", _env("CONDA_CHANNEL_ALIAS", "https://env.example"), "https://env.example"),
        ("condarc", _condarc("channel_alias: https://rc.example"), "https://rc.example"),
        ("recorded", _recorded("channel-alias", "https://rec.example", "env"), "https://rec.example"),
        ("default", _nothing, "https://conda.anaconda.org"),
    ],
    "channel-priority": [
        ("flag", _flag("channel_priority", ChannelPriority.DISABLED), ChannelPriority.DISABLED),
        ("lock", _recorded("channel-priority", "flexible", "flag"), ChannelPriority.FLEXIBLE),
        ("env", _env("CONDA_CHANNEL_PRIORITY", "disabled"), ChannelPriority.DISABLED),
        ("condarc", _condarc("channel_priority: flexible"), ChannelPriority.FLEXIBLE),
        ("spec", _spec("channel-priority: disabled"), ChannelPriority.DISABLED),
        ("recorded", _recorded("channel-priority", "flexible", "condarc"), ChannelPriority.FLEXIBLE),
        ("default", _nothing, ChannelPriority.STRICT),
    ],
    "exclude-newer": [
        ("flag", _flag("exclude_newer", datetime(2025, 1, 1, tzinfo=timezone.utc)), "2025-01-01"),
        ("lock", _recorded("exclude-newer", "2024-06-01T00:00:00+00:00", "flag"), "2024-06-01"),
        ("spec", _spec("exclude-newer: 2024-03-01"), "2024-03-01"),
        ("recorded", _recorded("exclude-newer", T0, "recorded"), "2024-01-01"),
        ("default", _nothing, None),
    ],
    "pip-fallback": [
        ("flag", _flag("pip_fallback", True), True),
        ("lock", _recorded("pip-fallback", True, "flag"), True),
        ("spec", _spec("pip-fallback: true"), True),
        ("recorded", _recorded("pip-fallback", True, "recorded"), True),
    ],
    "__cuda": [
        ("flag", _flag("cuda", "12.8"), "12.8"),
        ("lock", _vp_recorded("__cuda", "12.4", "flag"), "12.4"),
        ("file", _vp_file("__cuda", "12.2"), "12.2"),
        ("variant", _variant("12.1"), "12.1"),
        ("spec", _spec('cuda: "11.8"'), "11.8"),
        ("recorded", _vp_recorded("__cuda", "11.2", "recorded"), "11.2"),
        ("default", _nothing, None),
    ],
    "__glibc": [
        ("flag", _flag("glibc", "2.39"), "2.39"),
        ("lock", _vp_recorded("__glibc", "2.35", "flag"), "2.35"),
        ("file", _vp_file("__glibc", "2.31"), "2.31"),
        ("recorded", _vp_recorded("__glibc", "2.17", "recorded"), "2.17"),
        ("default", _nothing, "2.28"),
    ],
    "__osx": [
        ("flag", _flag("osx", "14.0"), "14.0"),
        ("lock", _vp_recorded("__osx", "13.0", "flag"), "13.0"),
        ("file", _vp_file("__osx", "12.0"), "12.0"),
        ("recorded", _vp_recorded("__osx", "10.15", "recorded"), "10.15"),
        ("default", _nothing, "11.0"),
    ],
}


def _platform_for(name: str, winner: str) -> str:
    if name == "__osx":
        return "osx-arm64"
    return "linux-64"


def _value(plan: LockPlan, name: str, platform: str) -> Any:
    if name.startswith("__"):
        found = plan.platforms[0].virtual_packages.get(name)
        return found.version if found is not None else None
    if name == "exclude-newer":
        return plan.exclude_newer.date().isoformat() if plan.exclude_newer else None
    return {
        "platforms": plan.platform_names,
        "channels": plan.channel_names,
        "channel-alias": plan.channel_alias,
        "channel-priority": plan.priority,
        "pip-fallback": plan.pip_options.fallback,
    }[name]


def _source(plan: LockPlan, name: str) -> str | None:
    if name.startswith("__"):
        return plan.platforms[0].virtual_packages.sources.get(name)
    return plan.sources.get(name)


CASES = [(name, index) for name, rows in MATRIX.items() for index in range(len(rows))]


@pytest.mark.parametrize(("name", "index"), CASES, ids=[f"{n}-{MATRIX[n][i][0]}" for n, i in CASES])
def test_precedence_matrix(name: str, index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Provider `index` of input `name` and every provider below it present: `index` wins, is recorded."""
    rows = MATRIX[name]
    winner, _, expected = rows[index]
    scenario = Scenario(tmp_path, monkeypatch)
    if name == "channels" and winner == "condarc":
        _no_spec_channels(scenario)
    for provider, provide, _ in rows[index:]:
        if provider == "recorded" and winner == "lock":
            continue  # a lockfile records one value per input: a replayed flag or another source
        provide(scenario)
    if name == "channels" and "channels" not in scenario.spec_lines and winner in ("recorded", "condarc"):
        _no_spec_channels(scenario)
    if name == "platforms" and winner != "flag":
        scenario.flags["platforms"] = ()
    platform = _platform_for(name, winner)
    plan = scenario.plan(platform)
    assert _value(plan, name, platform) == expected
    if winner == "default" and expected is None:
        assert _source(plan, name) in (None, "default")
    else:
        assert _source(plan, name) == winner


def test_every_provider_of_the_table_is_in_the_matrix() -> None:
    used = {provider for rows in MATRIX.values() for provider, _, _ in rows}
    assert used == set(PROVIDERS), set(PROVIDERS) ^ used
    for rows in MATRIX.values():  # each input's rows follow the table's order
        order = [PROVIDERS.index(p) for p, _, _ in rows if not (p == "condarc" and rows[-1][0] == "condarc")]
        assert order == sorted(order)


def test_cpu_variant_never_assumes_cuda(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`cuda: null`: no flag, recorded flag, file or spec value gives the variant a `__cuda`."""
    scenario = Scenario(tmp_path, monkeypatch)
    for provide in (
        _flag("cuda", "12.8"),
        _vp_recorded("__cuda", "12.4", "flag"),
        _vp_file("__cuda", "12.2"),
    ):
        provide(scenario)
    scenario.spec_lines.append('cuda: "11.8"')
    _variant("12.1")(scenario)
    scenario.variant = "cpu"
    plan = scenario.plan("linux-64")
    vps = plan.platforms[0].virtual_packages
    assert vps.get("__cuda") is None and vps.sources["__cuda"] == "variant"


def test_resolve_input_walks_the_table_in_order() -> None:
    assert resolve_input({"spec": 1, "recorded": 2}, 0) == (1, "spec")
    assert resolve_input({"default": 3}, 0) == (3, "default")
    assert resolve_input({}, 0) == (0, "default")
    assert resolve_input({"variant": ABSENT, "spec": 4}, 0) == (ABSENT, "variant")  # absent is a value
    assert replay_slot("flag") == "lock" and replay_slot("lock") == "lock" and replay_slot("file") == "lock"
    assert replay_slot("env") == "recorded" and replay_slot("condarc") == "recorded"
    assert replay_slot("spec") is None and replay_slot("variant") is None and replay_slot("default") is None


def test_readme_states_the_same_order() -> None:
    readme = " ".join((REPO / "README.md").read_text().split())
    found = re.search(r"Precedence per value: (flag >.*?> default)", readme)
    assert found is not None, "the README's precedence sentence is missing"
    assert found.group(1) == readme_precedence()
    plan_doc = " ".join((REPO / "src" / "cenv" / "plan.py").read_text().split())
    assert readme_precedence() in plan_doc


def test_a_recorded_file_value_replays_until_a_file_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--virtual-packages FILE` is a command-line input: its values replay like a flag, keep their source
    ("file"), and give way to a file given now."""
    replayed = Scenario(tmp_path, monkeypatch)
    _vp_recorded("__cuda", "12.4", "file")(replayed)
    vps = replayed.plan("linux-64").platforms[0].virtual_packages
    assert vps.get("__cuda") is not None and vps.get("__cuda").version == "12.4"  # type: ignore[union-attr]
    assert vps.sources["__cuda"] == "file"
    _vp_file("__cuda", "12.2")(replayed)
    vps = replayed.plan("linux-64").platforms[0].virtual_packages
    assert vps.get("__cuda").version == "12.2" and vps.sources["__cuda"] == "file"  # type: ignore[union-attr]
