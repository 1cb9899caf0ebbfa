"""cenv.spec: real environment files, selectors, composing, content hash and located errors."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from tests.support.realdata import REALDATA, realdata_files

from cenv.errors import SpecError
from cenv.spec import Spec, load_spec
from cenv.spec.load import load_spec_text
from cenv.spec.models import KNOWN_PLATFORMS, CondaDependency, Location, PipRequirement

SPECS = REALDATA / "specs"
#: The real-world tests below read these; their fixture-based twins follow each of them.
needs_specs = pytest.mark.realdata("specs")


def _real_env_files() -> list[Path]:
    return realdata_files(
        "specs", "**/*", keep=lambda p: p.suffix in {".yml", ".yaml"} and "virtual" not in p.name.lower()
    )


def _id(path: Path) -> str:
    return str(path.relative_to(SPECS)) if path.is_relative_to(SPECS) and path != SPECS else path.name


def _write(tmp_path: Path, text: str, name: str = "env.yml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def _error(tmp_path: Path, text: str) -> SpecError:
    path = _write(tmp_path, text)
    with pytest.raises(SpecError) as info:
        load_spec([path])
    message = info.value.message
    assert "\n" not in message
    assert message.startswith(f"{path}:")
    return info.value


# ------------------------------------------------------------------------------------------- real files


@pytest.mark.parametrize("path", _real_env_files(), ids=_id)
def test_every_real_environment_file_loads(path: Path) -> None:
    start = time.process_time()  # CPU time: a loaded machine does not move it
    spec = load_spec([path])
    assert time.process_time() - start < 1.0
    assert spec.sources == (str(path),)
    assert spec.dependencies, "every real file has dependencies"
    for dep in spec.dependencies:
        assert dep.location.file == str(path)
        assert dep.location.line is not None and dep.location.line >= 1
        assert dep.name == dep.name.lower()
    assert len(spec.content_hash()) == 64


@needs_specs
def test_real_virtual_package_files_are_not_specs() -> None:
    files = sorted(p for p in SPECS.rglob("*") if "virtual" in p.name.lower())
    assert files
    for path in files:
        with pytest.raises(SpecError) as info:
            load_spec([path])
        assert ": subdirs: unknown key" in info.value.message
        assert any("virtual-packages file" in h for h in info.value.hints)


@needs_specs
def test_real_conda_lock_category_is_ignored_with_a_warning() -> None:
    path = SPECS / "rattler-samples" / "conda_lock_dev.environment.yaml"
    spec = load_spec([path])
    assert spec.nodefaults and spec.channels == ("conda-forge",)
    assert spec.warnings == (
        f"{path}:2: conda-lock's `category` is ignored; cenv has no dependency categories",
    )
    assert [r.requirement for r in spec.pip] == ["types-click-default-group"]


@needs_specs
def test_real_quoted_version_is_unquoted() -> None:
    path = SPECS / "deeplabcut" / "DEEPLABCUT.yaml"
    spec = load_spec([path])
    python = next(d for d in spec.dependencies if d.name == "python")
    assert python.spec == "python=3.10"
    assert any("quotes removed" in w for w in spec.warnings)
    assert [r.name for r in spec.pip] == ["deeplabcut"]


@needs_specs
def test_real_platforms_and_comments_that_are_not_selectors() -> None:
    spec = load_spec([SPECS / "rattler-samples" / "environment.yml"])
    assert spec.platforms == ("linux-64", "linux-aarch64", "linux-ppc64le", "osx-64", "osx-arm64", "win-64")
    assert spec.dependencies[0].spec == "python =3.11.0"
    notebook = load_spec([SPECS / "pangeo-notebook" / "environment.yml"])
    argopy = next(d for d in notebook.dependencies if d.name == "argopy")
    assert argopy.spec == "argopy<1.4.0" and argopy.selector is None


@needs_specs
def test_real_variables_and_channel_qualified_specs() -> None:
    spec = load_spec([SPECS / "rattler-samples" / "variables.environment.yaml"])
    assert spec.variables == {"MY_ENV_VAR": "My Value"}
    inversion = load_spec([SPECS / "rattler-samples" / "channel_inversion.environment.yaml"])
    assert inversion.channels == ("rapidsai", "nvidia", "conda-forge")
    cuda_python = inversion.dependencies[1]
    assert (cuda_python.spec, cuda_python.name, cuda_python.channel) == (
        "conda-forge::cuda-python",
        "cuda-python",
        "conda-forge",
    )
    assert inversion.dependencies[0].channel is None


@needs_specs
def test_real_pip_extra_index_url_moves_to_pip_options() -> None:
    spec = load_spec([SPECS / "dinov2" / "conda.yaml"])
    assert spec.pip_options.extra_index_urls == ("https://pypi.nvidia.com",)
    assert [r.requirement for r in spec.pip] == [
        "git+https://github.com/facebookincubator/submitit",
        "cuml-cu11",
    ]
    assert spec.pip[0].name is None and spec.pip[1].name == "cuml-cu11"


@needs_specs
def test_real_editable_pip_lines_are_kept_opaque() -> None:
    spec = load_spec([SPECS / "stable-diffusion" / "environment.yaml"])
    lines = [r.requirement for r in spec.pip]
    assert "-e git+https://github.com/CompVis/taming-transformers.git@master#egg=taming-transformers" in lines
    assert lines[-1] == "-e ."


@needs_specs
def test_pangeo_files_compose() -> None:
    paths = [
        SPECS / "pangeo-base-notebook" / "environment.yml",
        SPECS / "pangeo-notebook" / "environment.yml",
        SPECS / "pangeo-pytorch-notebook" / "environment.yml",
    ]
    parts = [load_spec([p]) for p in paths]
    spec = load_spec(paths)
    assert spec.sources == tuple(str(p) for p in paths)
    assert spec.name == "pangeo"
    assert spec.channels == ("conda-forge",) and spec.nodefaults
    assert 140 <= len(spec.dependencies) <= 150
    assert len(spec.dependencies) == 144
    names = [d.name for d in spec.dependencies]
    assert len(names) == len(set(names))
    (pytorch,) = [d for d in spec.dependencies if d.name == "pytorch"]
    assert pytorch.spec == "pytorch>=2.7.0=cuda12*"
    assert pytorch.location.file == str(paths[2])
    # Every package of every part is present, and the later file wins for the same name.
    for part in parts:
        assert {d.name for d in part.dependencies} <= set(names)
    by_name = {d.name: d for d in spec.dependencies}
    for dep in parts[2].dependencies:
        assert by_name[dep.name] == dep
    # First-seen order is kept: the base file's packages come first.
    assert names[: len(parts[0].dependencies)] == [d.name for d in parts[0].dependencies]


# ------------------------------------------------------- the same behaviours on the project's own files
#
# Shaped like the real files above (the lines that matter copied), so a fresh clone without ../shared
# still covers reading real-world specs.


def test_virtual_package_file_is_not_a_spec(tmp_path: Path) -> None:
    path = _write(
        tmp_path, 'subdirs:\n  linux-64:\n    packages:\n      __cuda: "12.0"\n', "virtual-packages.yml"
    )
    with pytest.raises(SpecError) as info:
        load_spec([path])
    assert info.value.message == f"{path}:1: subdirs: unknown key"
    assert any("virtual-packages file" in h for h in info.value.hints)


def test_conda_lock_category_is_ignored_with_a_warning(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
        name: conda-lock-dev
        category: dev
        channels:
          - conda-forge
          - nodefaults
        dependencies:
          - mypy
          - pip
          - pip:
              - types-click-default-group
        """,
    )
    spec = load_spec([path])
    assert spec.nodefaults and spec.channels == ("conda-forge",)
    assert spec.warnings == (
        f"{path}:2: conda-lock's `category` is ignored; cenv has no dependency categories",
    )
    assert [d.name for d in spec.dependencies] == ["mypy", "pip"]
    assert [r.requirement for r in spec.pip] == ["types-click-default-group"]


def test_quoted_version_is_unquoted(tmp_path: Path) -> None:
    path = _write(
        tmp_path, "name: DLC\ndependencies:\n  - python='3.10'\n  - pip\n  - pip:\n    - deeplabcut\n"
    )
    spec = load_spec([path])
    assert spec.dependencies[0].spec == "python=3.10"
    assert next(w for w in spec.warnings if "quotes removed" in w).startswith(f"{path}:3: ")
    assert [r.name for r in spec.pip] == ["deeplabcut"]


def test_platform_comments_and_trailing_comments_are_not_selectors(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
        name: python
        dependencies:
          - python =3.11.0
          - argopy<1.4.0  # wait for xarray >2025.9.0 compat
        platforms:
          - linux-64
          - linux-aarch64 # aka arm64, use for Docker on Apple Silicon
          - osx-arm64 # For Apple Silicon, e.g. M1/M2
        """,
    )
    spec = load_spec([path])
    assert spec.platforms == ("linux-64", "linux-aarch64", "osx-arm64")
    assert [(d.spec, d.selector) for d in spec.dependencies] == [
        ("python =3.11.0", None),
        ("argopy<1.4.0", None),
    ]
    assert [d.name for d in spec.dependencies_for("osx-arm64")] == ["python", "argopy"]


def test_variables_and_channel_qualified_specs(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
        channels:
          # a comment between channels
          - rapidsai
          - nvidia
          - conda-forge
        dependencies:
          - cudf
          - conda-forge::cuda-python
        variables:
          MY_ENV_VAR: "My Value"
        """,
    )
    spec = load_spec([path])
    assert spec.variables == {"MY_ENV_VAR": "My Value"}
    assert spec.channels == ("rapidsai", "nvidia", "conda-forge")
    assert [(d.spec, d.name, d.channel) for d in spec.dependencies] == [
        ("cudf", "cudf", None),
        ("conda-forge::cuda-python", "cuda-python", "conda-forge"),
    ]
    assert spec.dependencies[1].location == Location(file=str(path), line=8)


def test_pip_extra_index_url_moves_to_pip_options_and_editables_stay_opaque(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
        dependencies:
          - python=3.9
          - pytorch::pytorch=2.0.0
          - pip
          - pip:
              - git+https://github.com/facebookincubator/submitit
              - --extra-index-url https://pypi.nvidia.com
              - cuml-cu11
              - -e git+https://github.com/CompVis/taming-transformers.git@master#egg=taming-transformers
              - -e .
        """,
    )
    spec = load_spec([path])
    assert spec.pip_options.extra_index_urls == ("https://pypi.nvidia.com",)
    assert [r.requirement for r in spec.pip] == [
        "git+https://github.com/facebookincubator/submitit",
        "cuml-cu11",
        "-e git+https://github.com/CompVis/taming-transformers.git@master#egg=taming-transformers",
        "-e .",
    ]
    assert [r.name for r in spec.pip] == [None, "cuml-cu11", None, None]
    assert [r.location.line for r in spec.pip] == [6, 8, 9, 10]
    assert spec.dependencies[1].channel == "pytorch"


# ------------------------------------------------------------------------------------------- selectors

SELECTORS = """
name: sel
channels: [conda-forge]
dependencies:
  - python=3.12
  - cudatoolkit  # [linux64]
  - libfoo  # [linux]
  - appnope  # [osx]
  - pywin32  # [win]
  - readline  # [unix]
  - aarch-only  # [linux-aarch64]
  - m1-only  # [osxarm64]
  - not-win  # [not win]
  - arm-linux  # [linux and aarch64]
  - numpy  # a comment that is not a selector
  - pip:
      - torch  # [linux]
      - pywinpty  # [win]
      - rich
"""


def _names(deps: list[CondaDependency] | list[PipRequirement]) -> list[str]:
    return [d.name if isinstance(d, CondaDependency) else d.requirement for d in deps]  # type: ignore[misc]


def test_selectors_per_platform() -> None:
    spec = load_spec_text(SELECTORS, "env.yml")
    assert spec.dependencies[1].selector == "linux64"
    assert spec.dependencies[-1].selector is None
    assert _names(spec.dependencies_for("linux-64")) == [
        "python",
        "cudatoolkit",
        "libfoo",
        "readline",
        "not-win",
        "numpy",
    ]
    assert _names(spec.dependencies_for("linux-aarch64")) == [
        "python",
        "libfoo",
        "readline",
        "aarch-only",
        "not-win",
        "arm-linux",
        "numpy",
    ]
    assert _names(spec.dependencies_for("osx-arm64")) == [
        "python",
        "appnope",
        "readline",
        "m1-only",
        "not-win",
        "numpy",
    ]
    assert _names(spec.dependencies_for("win-64")) == ["python", "pywin32", "numpy"]
    assert _names(spec.pip_for("linux-64")) == ["torch", "rich"]
    assert _names(spec.pip_for("win-64")) == ["pywinpty", "rich"]
    assert _names(spec.pip_for("osx-arm64")) == ["rich"]


def test_selector_changes_the_hash_and_same_name_different_selector_both_kept() -> None:
    a = load_spec_text("dependencies:\n  - cudatoolkit  # [linux64]\n  - cudatoolkit=11  # [win]\n")
    assert [d.selector for d in a.dependencies] == ["linux64", "win"]
    b = load_spec_text("dependencies:\n  - cudatoolkit  # [linux]\n  - cudatoolkit=11  # [win]\n")
    assert a.content_hash() != b.content_hash()


def test_unknown_selector_is_an_error(tmp_path: Path) -> None:
    err = _error(tmp_path, "dependencies:\n  - python\n  - cudatoolkit  # [linux46]\n")
    assert ":3: dependencies[1]: invalid selector [linux46]: unknown selector `linux46`" in err.message
    assert "did you mean `linux64`?" in err.hints


# ------------------------------------------------------------------------------------------- composing


def test_compose_rules(tmp_path: Path) -> None:
    a = _write(
        tmp_path,
        """
        name: a
        channels: [conda-forge, bioconda]
        channel-priority: flexible
        cuda: "12.1"
        platforms: [linux-64]
        variables: {A: "1", B: "2"}
        dependencies:
          - python=3.11
          - numpy
          - pip:
              - requests==2.0
              - -e git+https://example.org/x.git#egg=x
        """,
        "a.yml",
    )
    b = _write(
        tmp_path,
        """
        channels: [pytorch, conda-forge, nodefaults]
        variables: {B: "3"}
        pip-options:
          index-url: https://mirror.example/simple
        dependencies:
          - python=3.12
          - scipy
          - pip:
              - Requests>=2.31
              - -e git+https://example.org/x.git#egg=x
              - --find-links ./wheels
        """,
        "b.yml",
    )
    spec = load_spec([a, b])
    assert spec.name == "a"
    assert spec.channels == ("conda-forge", "bioconda", "pytorch")
    assert spec.nodefaults
    assert [d.spec for d in spec.dependencies] == ["python=3.12", "numpy", "scipy"]
    assert [r.requirement for r in spec.pip] == ["Requests>=2.31", "-e git+https://example.org/x.git#egg=x"]
    assert spec.variables == {"A": "1", "B": "3"}
    assert spec.channel_priority == "flexible" and spec.cuda == "12.1" and spec.platforms == ("linux-64",)
    assert spec.pip_options.index_url == "https://mirror.example/simple"
    assert spec.pip_options.find_links == ("./wheels",)
    assert load_spec([b, a]).name == "a"
    assert [d.spec for d in load_spec([b, a]).dependencies] == ["python=3.11", "scipy", "numpy"]


def test_load_spec_errors_for_missing_file_and_empty_list(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as info:
        load_spec([tmp_path / "nope.yml"])
    assert info.value.message == f"{tmp_path / 'nope.yml'}: spec file not found"
    assert info.value.hints
    with pytest.raises(SpecError):
        load_spec([])
    with pytest.raises(SpecError, match="is a directory"):
        load_spec([tmp_path])


# ------------------------------------------------------------------------------------------- values


def test_cenv_keys_are_read() -> None:
    spec = load_spec_text(
        """
name: full
channels: [conda-forge, nodefaults, conda-forge, https://example.org/channel, ./local-channel]
platforms: [linux-64, osx-arm64, linux-64]
cuda: {linux-64: "12.1", osx-arm64: null, win-64: 11.8}
channel-priority: disabled
exclude-newer: 2024-05-01
pip-options:
  index-url: https://pypi.example/simple
  extra-index-urls: [https://a.example/simple]
  find-links: ./wheels
  pytorch-index: cu121
variables:
  INT: 3
  FLOAT: 1.50
  BOOL: true
  EMPTY:
dependencies:
  - pkg[build=cuda*]
  - pytorch>=2.7.0=cuda12*
  - conda-forge/linux-64::numpy >=1.26
  - pip:
      - --extra-index-url https://b.example/simple
      - --index-url=https://override.example/simple
"""
    )
    assert spec.channels == ("conda-forge", "https://example.org/channel", "./local-channel")
    assert spec.nodefaults
    assert spec.platforms == ("linux-64", "osx-arm64")
    assert spec.cuda == {"linux-64": "12.1", "osx-arm64": None, "win-64": "11.8"}
    assert spec.cuda_for("linux-64") == "12.1"
    assert spec.cuda_for("osx-arm64") is None
    assert spec.cuda_for("linux-aarch64") is None
    assert spec.channel_priority == "disabled"
    assert spec.exclude_newer == datetime(2024, 5, 1, tzinfo=timezone.utc)
    assert spec.pip_options.index_url == "https://override.example/simple"
    assert spec.pip_options.extra_index_urls == ("https://a.example/simple", "https://b.example/simple")
    assert spec.pip_options.find_links == ("./wheels",)
    assert spec.pip_options.pytorch_index == "cu121"
    assert spec.variables == {"INT": "3", "FLOAT": "1.50", "BOOL": "true", "EMPTY": ""}
    assert [(d.spec, d.name, d.channel) for d in spec.dependencies] == [
        ("pkg[build=cuda*]", "pkg", None),
        ("pytorch>=2.7.0=cuda12*", "pytorch", None),
        ("conda-forge/linux-64::numpy >=1.26", "numpy", "conda-forge"),
    ]
    assert spec.pip == ()
    assert any("win-64" in w and "quote" in w for w in spec.warnings)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('cuda: "12.1"', "12.1"),
        ("cuda: 12.1", "12.1"),
        ("cuda: 12.10", "12.10"),
        ("cuda: 12", "12"),
        ("cuda: null", None),
        ("cuda: none", None),
        ("cuda:", None),
    ],
)
def test_cuda_values(text: str, expected: str | None) -> None:
    spec = load_spec_text(text + "\ndependencies: [python]\n")
    assert spec.cuda == expected
    assert spec.cuda_for("linux-64") == expected
    assert spec.cuda_for("win-64") == expected
    assert spec.cuda_for("osx-arm64") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01", datetime(2024, 5, 1, tzinfo=timezone.utc)),
        ("2024-05-01T12:30:00Z", datetime(2024, 5, 1, 12, 30, tzinfo=timezone.utc)),
        ("2024-05-01T12:30:00+02:00", datetime(2024, 5, 1, 10, 30, tzinfo=timezone.utc)),
        ("2024-05-01 12:30:00", datetime(2024, 5, 1, 12, 30, tzinfo=timezone.utc)),
        ('"2024-05-01T12:30:00Z"', datetime(2024, 5, 1, 12, 30, tzinfo=timezone.utc)),
    ],
)
def test_exclude_newer_is_utc(text: str, expected: datetime) -> None:
    value = load_spec_text(f"exclude-newer: {text}\n").exclude_newer
    assert value == expected
    assert value is not None and value.utcoffset() is not None and value.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


def test_prefix_is_ignored_with_a_warning() -> None:
    spec = load_spec_text("name: x\nprefix: /opt/envs/x\ndependencies: [python]\n", "env.yml")
    assert spec.warnings == ("env.yml:2: `prefix` is ignored; use `cenv create -p`",)


def test_defaults_and_empty_sections() -> None:
    spec = load_spec_text("dependencies:\nchannels:\n")
    assert spec == Spec(sources=("<string>",))
    assert spec.channel_priority == "strict" and spec.cuda is None and spec.pip_options.index_url is None


def test_location_str() -> None:
    assert str(Location(file="env.yml", line=12)) == "env.yml:12"
    assert str(Location(file="env.yml", line=None)) == "env.yml"


def test_models_are_frozen_and_forbid_extra() -> None:
    from dataclasses import FrozenInstanceError

    from pydantic import TypeAdapter, ValidationError

    spec = load_spec_text("dependencies: [python]\n")
    with pytest.raises(FrozenInstanceError):
        spec.name = "x"  # type: ignore[misc]
    # The validator load.py uses: an unknown key is an error (pydantic ignores it without `extra: forbid`),
    # at the top level and in nested models alike.
    adapter = TypeAdapter(Spec)
    assert adapter.validate_python({"name": "x"}).name == "x"
    for data, where in (
        ({"name": "x", "unknown": 1}, ("unknown",)),
        ({"pip_options": {"index_url": "x", "bogus": 1}}, ("pip_options", "bogus")),
        (
            {"dependencies": [{"spec": "a", "name": "a", "location": {"file": "f", "line": 1}, "extra": 2}]},
            ("dependencies", 0, "extra"),
        ),
    ):
        with pytest.raises(ValidationError) as info:
            adapter.validate_python(data)
        assert [(e["type"], e["loc"]) for e in info.value.errors()] == [
            ("unexpected_keyword_argument", where)
        ]


def test_known_platforms_match_rattler() -> None:
    from rattler.platform import Subdir

    assert set(KNOWN_PLATFORMS) == {str(p) for p in Subdir.all()}


# ------------------------------------------------------------------------------------------- content hash

BASE = """
name: demo
# the channels
channels:
  - conda-forge
dependencies:
  - python=3.12   # pinned
  - numpy
  - pip:
      - rich
variables:
  A: "1"
  B: "2"
"""

REORDERED = """
variables: {B: "2", A: "1"}
dependencies:
  - python=3.12
  - numpy        # another comment
  - pip: [rich]
channels: [conda-forge]   # inline
name: demo
"""


def test_content_hash_ignores_comments_order_and_locations() -> None:
    a = load_spec_text(BASE, "a.yml")
    b = load_spec_text(REORDERED, "b.yml")
    assert a.content_hash() == b.content_hash()
    assert a.dependencies[0].location != b.dependencies[0].location


def test_content_hash_changes_with_content() -> None:
    base = load_spec_text(BASE).content_hash()
    assert load_spec_text(BASE.replace("numpy", "numpy>=2")).content_hash() != base
    assert load_spec_text(BASE.replace("rich", "rich==13")).content_hash() != base
    assert load_spec_text(BASE.replace('B: "2"', 'B: "3"')).content_hash() != base
    assert load_spec_text(BASE + "channel-priority: flexible\n").content_hash() != base


# ------------------------------------------------------------------------------------------- errors


def test_unknown_top_level_key_with_did_you_mean(tmp_path: Path) -> None:
    err = _error(tmp_path, "name: x\nchanels: [conda-forge]\ndependencies: [python]\n")
    assert err.message.endswith("env.yml:2: chanels: unknown key")
    assert err.hints[0] == "did you mean `channels`?"
    err = _error(tmp_path, "pip: [rich]\n")
    assert err.message.endswith(":1: pip: unknown key")
    assert any("under `dependencies:`" in h for h in err.hints)


def test_bad_match_spec(tmp_path: Path) -> None:
    err = _error(
        tmp_path,
        "name: x\nchannels: [conda-forge]\ndependencies:\n  - python\n  - pip\n  - x\n  - numpy>=>1\n",
    )
    assert ":7: dependencies[3]: invalid match spec 'numpy>=>1': " in err.message
    assert "version" in err.message


def test_bad_platform(tmp_path: Path) -> None:
    err = _error(tmp_path, "platforms:\n  - linux-64\n  - osx-arm\n")
    assert err.message.endswith(":3: platforms[1]: unknown platform `osx-arm`")
    assert err.hints[0] == "did you mean `osx-arm64`?"
    assert any("linux-64" in h and "win-64" in h for h in err.hints)


def test_bad_channel_priority(tmp_path: Path) -> None:
    err = _error(tmp_path, "dependencies: [python]\nchannel-priority: sometimes\n")
    assert err.message.endswith(
        ":2: channel-priority: expected one of strict, flexible, disabled, got `sometimes`"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("dependencies: python\n", ":1: dependencies: expected a list of match specs, got a string"),
        (
            "dependencies:\n  - python\n  - 3\n",
            ":3: dependencies[1]: expected a match spec string or `pip:` list",
        ),
        (
            "dependencies:\n  -\n",
            ":2: dependencies[0]: expected a match spec string or `pip:` list, empty item",
        ),
        (
            "dependencies:\n  - pip: rich\n",
            ":2: dependencies[0].pip: expected a list of requirements, got a string",
        ),
        ("dependencies:\n  - pip:\n    - 1\n", ":3: dependencies[0].pip[0]: expected a requirement string"),
        ("dependencies:\n  - pipp: [x]\n", ":2: dependencies[0].pipp: unknown key"),
        ("channels: conda-forge\n", ":1: channels: expected a list of strings, got a string"),
        ("channels:\n  - [a]\n", ":2: channels[0]: expected a non-empty string, got a list"),
        ("variables: [A]\n", ":1: variables: expected a mapping of names to values, got a list"),
        ("variables:\n  A: [1]\n", ":2: variables.A: expected a string, got a list"),
        ("name: [x]\n", ":1: name: expected a string, got a list"),
        ("cuda: [12]\n", ":1: cuda: expected a CUDA version or a mapping"),
        ("cuda: twelve\n", ":1: cuda: expected a CUDA version"),
        ("cuda:\n  linux64: '12'\n", ":2: cuda.linux64: unknown platform"),
        ("exclude-newer: yesterday\n", ":1: exclude-newer: expected a date"),
        ("exclude-newer: 12\n", ":1: exclude-newer: expected a date"),
        ("pip-options: x\n", ":1: pip-options: expected a mapping, got a string"),
        ("pip-options:\n  index_url: x\n", ":2: pip-options.index_url: unknown key"),
        (
            "dependencies:\n  - pip:\n    - --no-deps\n",
            ":3: dependencies[0].pip[0]: unsupported pip option `--no-deps`",
        ),
        (
            "dependencies:\n  - pip:\n    - --index-url\n",
            ":3: dependencies[0].pip[0]: `--index-url` needs a value",
        ),
        ("1: x\n", ":1: 1: unknown key"),
    ],
)
def test_wrong_types_are_located(tmp_path: Path, text: str, expected: str) -> None:
    err = _error(tmp_path, text)
    assert expected in err.message, err.message


def test_invalid_yaml(tmp_path: Path) -> None:
    err = _error(tmp_path, "name: x\ndependencies: [python\nchannels: [conda-forge]\n")
    assert ": invalid YAML: " in err.message
    assert err.message.split(": ")[0].endswith(":3")


def test_a_scalar_ruamel_cannot_construct_is_invalid_yaml(tmp_path: Path) -> None:
    """`-_` passes ruamel.yaml's int resolver and crashes its int constructor (IndexError): found by
    test_fuzz_spec in a whole-suite run; a spec error, not a traceback."""
    err = _error(tmp_path, "name: -_\ndependencies: [python]\n")
    assert ": invalid YAML: " in err.message
    assert err.message.split(": ")[0].endswith(":1"), err.message  # at the scalar's line


def test_duplicate_key(tmp_path: Path) -> None:
    err = _error(tmp_path, "name: x\nchannels: [a]\ndependencies: [python]\nchannels: [b]\n")
    assert err.message.split(": ")[0].endswith(":4")
    assert ": duplicate key: " in err.message and '"channels"' in err.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ":1: empty spec"),
        ("# only a comment\n", ":1: empty spec"),
        ("- python\n- numpy\n", ":1: expected a mapping at the top level, got a list"),
        ("just a string\n", "expected a mapping at the top level, got a string"),
    ],
)
def test_empty_and_non_mapping_files(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in _error(tmp_path, text).message


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "env.yml"
    path.write_bytes(b"name: \xff\xfe\n")
    with pytest.raises(SpecError, match="not UTF-8"):
        load_spec([path])


def test_alias_bomb_does_not_hang() -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    prev = "a"
    for name in "bcdefghi":
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
        prev = name
    start = time.process_time()  # CPU time: a loaded machine does not move it
    nested = "variables:\n" + "\n".join("  " + line for line in lines) + "\ndependencies: *i\n"
    with pytest.raises(SpecError, match=r"<string>:1: variables: YAML aliases expand to more than"):
        load_spec_text(nested)
    with pytest.raises(SpecError, match="dependencies\\[0\\]: expected a match spec string"):
        load_spec_text("dependencies: [&x [1, 2], *x]\n")
    assert time.process_time() - start < 5


def test_import_is_light() -> None:
    code = (
        "import sys, cenv.spec; "
        "print([m for m in ('click', 'rich', 'uv', 'httpx', 'numpy') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ---------------------------------------------------------- validated specs kept by content (spec/cache.py)


@pytest.mark.parametrize("path", _real_env_files(), ids=_id)
def test_cached_spec_is_the_same_spec(path: Path) -> None:
    from cenv.spec.cache import _from_data, _to_data

    try:
        spec = load_spec([path])
    except SpecError:
        pytest.skip("not a loadable spec")
    assert _from_data(json.loads(json.dumps(_to_data(spec)))) == spec
    assert load_spec([path]) == spec  # the second read comes from the cache
    assert load_spec([path]).content_hash() == spec.content_hash()


def test_content_hash_is_pydantics_json(tmp_path: Path) -> None:
    """The hash lockfiles store was computed from pydantic's JSON dump of the old pydantic models."""
    import hashlib

    from pydantic import TypeAdapter

    spec = load_spec_text(
        "name: x\nchannels: [conda-forge]\nexclude-newer: 2024-05-01T12:30:45.5+02:00\n"
        "cuda: {linux-64: '12.4', osx-arm64: null}\nplatforms: [linux-64, osx-arm64]\n"
        "pip-options: {index-url: 'https://x/simple', find-links: [a]}\n"
        "variants: {cpu: {cuda: null}, gpu: {cuda: '12.1'}}\n"
        "dependencies:\n  - conda-forge::numpy >=1.26  # [linux]\n  - pip:\n    - six==1.16.0\n"
    )
    data = TypeAdapter(Spec).dump_python(spec, mode="json", exclude={"sources", "warnings", "variant"})
    for key in ("dependencies", "pip"):
        for item in data[key]:
            item.pop("location")
    assert data["pip_options"].pop("fallback") is False  # in the hash only when set (issue #15)
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert spec.content_hash() == hashlib.sha256(canonical.encode()).hexdigest()


def test_a_warm_spec_load_imports_neither_yaml_reader_nor_pydantic(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: x\ncategory: main\ndependencies:\n  - python 3.11.*\n")
    probe = (
        "import sys; from cenv.spec import load_spec; s = load_spec([sys.argv[1]]); "
        "print(s.warnings, s.dependencies[0].location, 'pydantic' in sys.modules, 'ruamel' in sys.modules)"
    )
    runs = [
        subprocess.run([sys.executable, "-c", probe, str(path)], capture_output=True, text=True, check=True)
        for _ in range(2)
    ]
    first, second = (r.stdout.strip() for r in runs)
    assert first.endswith("True True")  # read and validated
    assert second.endswith("False False")  # from the cache
    assert first.rsplit(" ", 2)[0] == second.rsplit(" ", 2)[0]  # same warnings and locations
    assert "category" in second and f"{path}:4" in second


def test_the_cache_follows_edits_and_survives_damage(tmp_path: Path) -> None:
    import os

    path = _write(tmp_path, "dependencies: [python]\n")
    assert [d.spec for d in load_spec([path]).dependencies] == ["python"]
    path.write_text("dependencies: [python, numpy]\n")
    assert [d.spec for d in load_spec([path]).dependencies] == ["python", "numpy"]
    folder = Path(os.environ["CENV_CACHE_DIR"]) / "specs"
    for entry in folder.iterdir():
        entry.write_text('{"name": 1')  # truncated
    assert [d.spec for d in load_spec([path]).dependencies] == ["python", "numpy"]
    path.write_text("dependencies: [python, numpy]\nbogus: 1\n")
    for _ in range(2):  # errors are never cached
        with pytest.raises(SpecError, match=r"env\.yml:2: bogus: unknown key"):
            load_spec([path])


def test_an_unwritable_cache_is_skipped(tmp_path: Path) -> None:
    """A cache folder that cannot be created: every load reads and validates the file (nothing is served
    from a cache), gives the right spec, and leaves the blocking file alone."""
    import os

    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    path = _write(tmp_path, "name: x\ndependencies: [python, numpy]\n")
    probe = (
        "import sys; from cenv.spec import load_spec; s = load_spec([sys.argv[1]]); "
        "print([d.spec for d in s.dependencies], s.dependencies[1].location, 'ruamel' in sys.modules)"
    )
    env = {**os.environ, "CENV_CACHE_DIR": str(blocker)}
    runs = [
        subprocess.run([sys.executable, "-c", probe, str(path)], capture_output=True, text=True, env=env)
        for _ in range(2)
    ]
    for run in runs:
        assert run.returncode == 0 and run.stderr == "", run.stderr
        assert run.stdout.strip() == f"['python', 'numpy'] {path}:2 True"  # read by the YAML reader each time
    assert blocker.is_file() and blocker.read_text() == ""
