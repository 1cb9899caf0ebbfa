"""Post-link scripts run as conda 26 runs them (issue #22), with archives built by conda-build's layout
(`bin/.<name>-post-link.sh`, `etc/conda/activate.d/*.sh`, `etc/conda/env_vars.d/*.json`).

conda's code path, followed here: `UnlinkLinkTransaction._execute_post_link_actions` (conda/core/link.py)
calls `run_script(target_prefix, prec, "post-link", activate=True)`; with `activate=True`, `run_script` calls
`wrap_subprocess_call` (conda/utils.py), which writes a wrapper script with `eval "$(conda shell.posix
hook)"`, `conda activate PREFIX` and then `. SCRIPT` (the script is *sourced*), run as `bash WRAPPER`; the
environment also gets `ROOT_PREFIX`, `PREFIX`, `PKG_NAME`, `PKG_VERSION`, `PKG_BUILDNUM` and the script's
folder first on `PATH`. A non-zero status raises `LinkError` (the transaction fails). Pre-unlink goes through
the other branch: `[shell_path, "-x", path]`, no activation.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.cli_helpers import cenv
from tests.create_support import siblings, write_spec
from tests.support.channel_factory import ChannelFactory


@pytest.fixture
def channel(tmp_path: Path) -> ChannelFactory:
    ch = ChannelFactory(tmp_path / "channels", "oracle")
    ch.python_wrapper()
    # ends with `return 0`: valid only when the script is sourced, as conda's wrapper does
    ch.package(
        "returns",
        "1.0",
        subdir="linux-64",
        post_link='echo "returns ran in $PREFIX" > "$PREFIX/share-returns.txt"\nreturn 0\necho unreachable\n',
    )
    # checks a variable its own activate.d script sets, and one from its env_vars.d file
    ch.package(
        "needsact",
        "2.0",
        subdir="linux-64",
        build_number=4,
        env_vars={"NEEDSACT_HOME_FROM_JSON": "json-value"},
        files={"etc/conda/activate.d/needsact.sh": 'export NEEDSACT_HOME="$CONDA_PREFIX/share/needsact"\n'},
        post_link=(
            'if [ -z "$NEEDSACT_HOME" ]; then echo "NEEDSACT_HOME is not set" >&2; exit 4; fi\n'
            'if [ "$NEEDSACT_HOME_FROM_JSON" != json-value ]; then\n'
            '  echo "env_vars.d not applied" >&2; exit 5\n'
            "fi\n"
            'mkdir -p "$NEEDSACT_HOME"\n'
            'echo "$PKG_NAME $PKG_VERSION $PKG_BUILDNUM $CONDA_PREFIX $FROM_SPEC" \\\n'
            '  > "$NEEDSACT_HOME/seen.txt"\n'
        ),
    )
    ch.package(
        "fails",
        "1.0",
        subdir="linux-64",
        post_link='echo "cannot configure fails: no licence server" >&2\nreturn 7\n',
    )
    return ch.write_repodata()


def _spec(tmp_path: Path, ch: ChannelFactory, *deps: str) -> Path:
    return write_spec(
        tmp_path / "env.yml", ch.url, deps=("python", *deps), extra="variables:\n  FROM_SPEC: spec\n"
    )


def test_post_link_ending_with_return_0_succeeds(tmp_path: Path, channel: ChannelFactory) -> None:
    """`return 0` at the top level: conda sources the script (`. path` in the wrapper), so it is valid;
    the old `bash -x SCRIPT` run failed with "return: can only `return' from a function or sourced script"."""
    prefix = tmp_path / "env"
    result = cenv("create", _spec(tmp_path, channel, "returns"), "-p", prefix)
    assert result.code == 0, result.output
    assert (
        prefix / "share-returns.txt"
    ).read_text() == f"returns ran in {prefix}\n"  # relocated from staging


def test_post_link_sees_the_activated_environment(tmp_path: Path, channel: ChannelFactory) -> None:
    """`conda activate PREFIX` in the wrapper: the package's activate.d script has run and its env_vars.d
    and the spec's `variables` (conda-meta/state) are set before the script is sourced."""
    prefix = tmp_path / "env"
    result = cenv("create", _spec(tmp_path, channel, "needsact"), "-p", prefix)
    assert result.code == 0, result.output
    seen = (prefix / "share" / "needsact" / "seen.txt").read_text().split()
    assert seen == ["needsact", "2.0", "4", str(prefix), "spec"]


def test_failing_post_link_fails_with_its_output(tmp_path: Path, channel: ChannelFactory) -> None:
    """A non-zero status fails the transaction (`LinkError` in `run_script`); nothing is left behind, and
    the script's own output is in the message (its full output in the named log)."""
    prefix = tmp_path / "env"
    result = cenv("create", _spec(tmp_path, channel, "returns", "fails"), "-p", prefix)
    assert result.code == 1, result.output
    assert "error: the post-link script of `fails` failed" in result.stderr
    assert "cannot configure fails: no licence server" in result.stderr
    assert "exit status 7" in result.stderr
    assert not prefix.exists() and siblings(prefix) == []


def test_wrapper_is_not_left_anywhere(tmp_path: Path, channel: ChannelFactory) -> None:
    """conda removes its wrapper (`rm_rf(script_caller)` in `run_script`'s finally); cenv writes it outside
    the prefix and removes it too."""
    import os

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    prefix = tmp_path / "env"
    result = cenv(
        "create", _spec(tmp_path, channel, "returns", "needsact"), "-p", prefix, env={"TMPDIR": str(tmp)}
    )
    assert result.code == 0, result.output
    assert [p for p in tmp.iterdir() if p.name.startswith("cenv-post-link-")] == []
    assert not any(name.startswith(".tmp") for name in os.listdir(prefix))


@pytest.fixture
def clobbering(tmp_path: Path) -> ChannelFactory:
    ch = ChannelFactory(tmp_path / "clobber-channels", "clob")
    ch.package(
        "aaa", "1.0", subdir="linux-64", files={"bin/x": "#!/bin/sh\necho from-aaa\n", "share/a": "a\n"}
    )
    ch.package(
        "zzz", "1.0", subdir="linux-64", depends=["aaa"], files={"bin/x": "#!/bin/sh\necho from-zzz\n"}
    )
    ch.package("bbb", "1.0", subdir="linux-64", files={"bin/y": "#!/bin/sh\necho from-bbb\n"})
    ch.package("ccc", "1.0", subdir="linux-64", files={"bin/y": "#!/bin/sh\necho from-ccc\n"})
    return ch.write_repodata()


def test_clobbering_as_conda(tmp_path: Path, clobbering: ChannelFactory) -> None:
    """Two packages with one path: conda links in `PrefixGraph` order (conda/models/prefix_graph.py,
    `_topo_sort_handle_cycles`: unrelated packages by name, dependencies before dependents) and each
    `LinkPathAction` writes its file, so the later one keeps it (`ccc` over `bbb`; `zzz`, which depends on
    `aaa`, over `aaa`); `_verify_prefix_level` raises `SharedLinkPathClobberError`, which `maybe_raise`
    reports as a warning under the default `path_conflict: clobber`. Both records list the path (each
    record lists its package's paths). rattler kept the first package's copy and moved the others' to
    `__clobbers__/`, which must not be left."""
    import json

    spec = write_spec(tmp_path / "env.yml", clobbering.url, deps=("zzz", "bbb", "ccc"))
    prefix = tmp_path / "env"
    result = cenv("create", spec, "-p", prefix)
    assert result.code == 0, result.output
    assert (prefix / "bin" / "y").read_text() == "#!/bin/sh\necho from-ccc\n"
    assert (prefix / "bin" / "x").read_text() == "#!/bin/sh\necho from-zzz\n"
    assert "warning: `bin/y` is shipped by `bbb` and `ccc`: `ccc`'s copy is kept" in result.stderr
    assert "warning: `bin/x` is shipped by `aaa` and `zzz`: `zzz`'s copy is kept" in result.stderr
    assert not (prefix / "__clobbers__").exists()
    records = {
        json.loads(p.read_text())["name"]: json.loads(p.read_text())
        for p in (prefix / "conda-meta").glob("*.json")
    }
    assert "bin/y" in records["ccc"]["files"] and "bin/y" in records["bbb"]["files"]
    assert "bin/x" in records["zzz"]["files"] and "bin/x" in records["aaa"]["files"]
    assert all("__clobbers__" not in json.dumps(r) for r in records.values())


def test_path_conflict_prevent_refuses(tmp_path: Path, clobbering: ChannelFactory) -> None:
    """`path_conflict: prevent` (conda's `maybe_raise` raises the ClobberError): exit 1 naming both
    packages and the path; nothing is created. The variable and a .condarc both set it."""
    spec = write_spec(tmp_path / "env.yml", clobbering.url, deps=("bbb", "ccc"))
    prefix = tmp_path / "env"
    refused = cenv("create", spec, "-p", prefix, env={"CONDA_PATH_CONFLICT": "prevent"})
    assert refused.code == 1, refused.output
    assert "error: packages `bbb`, `ccc` all ship `bin/y`" in refused.stderr
    assert not prefix.exists() and siblings(prefix) == []
    condarc = tmp_path / "condarc"
    condarc.write_text("path_conflict: prevent\n")
    assert cenv("create", spec, "-p", prefix, env={"CONDARC": str(condarc)}).code == 1
    bad = cenv("create", spec, "-p", prefix, env={"CONDA_PATH_CONFLICT": "sometimes"})
    assert bad.code == 1 and "must be clobber, warn or prevent" in bad.stderr


def test_register_envs_false_in_condarc(tmp_path: Path, clobbering: ChannelFactory) -> None:
    """conda's `register_envs` read from a .condarc too, not only from CONDA_REGISTER_ENVS."""
    import os

    spec = write_spec(tmp_path / "env.yml", clobbering.url, deps=("aaa",))
    condarc = tmp_path / "condarc"
    condarc.write_text("register_envs: false\n")
    result = cenv("create", spec, "-n", "quiet", env={"CONDARC": str(condarc)})
    assert result.code == 0, result.output
    assert not (Path(os.environ["HOME"]) / ".conda" / "environments.txt").exists()
    registered = cenv("create", spec, "-n", "loud")
    assert registered.code == 0, registered.output
    assert "loud" in (Path(os.environ["HOME"]) / ".conda" / "environments.txt").read_text()
