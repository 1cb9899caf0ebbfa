"""Issue #20: credentials in every layout conda knows, read by one parser (`cenv.redact.parse_credentials`).

A channel served the way Anaconda Server serves it (`http://host/api/t/<token>/<channel>`, the token after a
path prefix) locks, creates from a fresh lockfile through the spec, and leaves the token in no file; an
`@EXPLICIT` file from someone else whose URLs carry credentials is exported without them; the network
layer's types never show a secret in their `repr`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.cli_helpers import cenv
from tests.support.http_server import ChannelServer

from cenv.channels import ResolvedChannel
from cenv.net import Credential, split_credentials
from cenv.redact import redact, strip_credentials

SECRET = "tk-9f3a-Secret-Token"
PASSWORD = "pw-Secret-7c1e"


class AnacondaServer(ChannelServer):
    """Answers only `/api/t/<SECRET>/<channel>/...` (Anaconda Server's layout): without the token, 404."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.untokened: list[str] = []

    def _resolve(self, path: str) -> Path | None:
        prefix = f"/api/t/{SECRET}/"
        if not path.startswith(prefix):
            self.untokened.append(path)
            return None
        return super()._resolve("/" + path.removeprefix(prefix))


@pytest.fixture
def server(demo_web_root: Path) -> Iterator[AnacondaServer]:
    with AnacondaServer(demo_web_root) as srv:
        yield srv


def _no_secret_in(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file() and path.name != "env.yml":
            data = path.read_bytes()
            assert SECRET.encode() not in data, path
            assert PASSWORD.encode() not in data, path


def test_token_after_a_path_prefix_locks_creates_and_is_written_nowhere(
    tmp_path: Path, server: AnacondaServer
) -> None:
    """conda/common/url.py `split_anaconda_token`: `/t/<token>` anywhere in the path; conda puts it back
    after the channel's location when it requests (`Channel.urls(with_credentials=True)`)."""
    host = server.url.removeprefix("http://")
    spec = tmp_path / "env.yml"
    spec.write_text(f"channels: ['http://{host}/api/t/{SECRET}/demo']\ndependencies: [cenv-demo-app]\n")
    env = {"CENV_CACHE_DIR": str(tmp_path / "c"), "CONDA_PKGS_DIRS": str(tmp_path / "pkgs")}
    locked = cenv("lock", spec, "-p", "linux-64", cwd=tmp_path, env=env)
    assert locked.code == 0, locked.output
    assert SECRET not in locked.output
    lock_text = (tmp_path / "env-lock.yml").read_text()
    assert f"http://{host}/api/demo/linux-64/" in lock_text or f"http://{host}/api/demo/noarch/" in lock_text
    # a create through the spec with the (fresh) lockfile: the spec's URL supplies the token again
    created = cenv("create", spec, "-p", tmp_path / "env", cwd=tmp_path, env=env)
    assert created.code == 0, created.output
    assert SECRET not in created.output
    assert (tmp_path / "env" / "conda-meta").is_dir()
    assert not server.untokened, server.untokened[:3]
    _no_secret_in(tmp_path)


@pytest.mark.parametrize(
    "url",
    [
        f"http://alice:{PASSWORD}@HOST/demo",
        f"http://{SECRET}@HOST/demo",
        f"http://HOST/t/{SECRET}/demo",
        f"http://HOST/api/t/{SECRET}/demo",
        f"http://alice:{PASSWORD}@HOST/t/{SECRET}/demo",
    ],
)
@pytest.mark.parametrize("fmt", ["explicit", "share"])
def test_export_of_an_explicit_file_never_shows_its_credentials(tmp_path: Path, url: str, fmt: str) -> None:
    """An `@EXPLICIT` file from someone else, its URLs with credentials: every output of `cenv export`."""
    base = url.replace("HOST", "127.0.0.1:9")
    explicit = tmp_path / "theirs.txt"
    explicit.write_text(
        "# platform: linux-64\n@EXPLICIT\n"
        f"{base}/linux-64/hello-1.0-h0_0.conda#{'a' * 32}\n"
        f"{base}/noarch/tool-2.0-pyh_0.tar.bz2#{'b' * 32}\n"
    )
    out = tmp_path / "out"
    out.mkdir()
    result = cenv("export", explicit, "--format", fmt, "-p", "linux-64", "-o", out / "x.txt", cwd=out)
    assert result.code == 0, result.output
    printed = cenv("export", explicit, "--format", fmt, "-p", "linux-64", cwd=out)
    assert printed.code == 0, printed.output
    for text in (result.output, printed.output):
        assert SECRET not in text and PASSWORD not in text, text
    written = "".join(p.read_text() for p in out.rglob("*") if p.is_file())
    assert "/linux-64/hello-1.0-h0_0.conda#" in printed.stdout + written
    _no_secret_in(out)


@pytest.mark.parametrize(
    ("url", "clean", "user", "password", "token", "prefix"),
    [
        ("https://u:PW1@h/c", "https://h/c", "u", "PW1", None, ""),
        ("https://u:P1@ss@h/c", "https://h/c", "u", "P1@ss", None, ""),
        ("https://TOK1@h/c", "https://h/c", None, None, "TOK1", ""),
        ("https://h/t/TOK1/c", "https://h/c", None, None, "TOK1", ""),
        ("https://h/api/t/TOK1/c", "https://h/api/c", None, None, "TOK1", "/api"),
        ("https://h:8080/conda/t/tk-123-45", "https://h:8080/conda", None, None, "tk-123-45", "/conda"),
        ("https://u:PW1@h/t/TOK1/c", "https://h/c", "u", "PW1", "TOK1", ""),
        ("https://h/c", "https://h/c", None, None, None, ""),
    ],
)
def test_one_parser_for_every_layout(
    url: str, clean: str, user: str | None, password: str | None, token: str | None, prefix: str
) -> None:
    """conda/common/url.py `split_anaconda_token` and `split_scheme_auth_token` examples."""
    from cenv.redact import parse_credentials

    found = parse_credentials(url)
    assert (found.url, found.username, found.password, found.token) == (clean, user, password, token)
    assert found.token_prefix == prefix
    assert strip_credentials(url) == clean
    for secret in (password, token):
        if secret:
            assert secret not in redact(url).replace("***", "")
            assert secret not in repr(found)


def test_a_raw_at_sign_in_a_password_is_masked_whole() -> None:
    assert redact("see https://alice:p@ss@host/c") == "see https://alice:***@host/c"


def test_credential_and_resolved_channel_never_show_the_secret() -> None:
    """Issue #25: a type whose repr masks the secret (uv's `DisplaySafeUrl` is the model)."""
    url = f"https://alice:{PASSWORD}@host/api/t/{SECRET}/chan"
    stripped, credential = split_credentials(url)
    assert credential is not None and stripped == "https://host/api/chan"
    channel = ResolvedChannel(name=url, url=url)
    basic = Credential("host", "basic", PASSWORD, username="alice")
    for text in (repr(credential), str(credential), repr(channel), str(channel), repr(basic), f"{basic}"):
        assert SECRET not in text and PASSWORD not in text, text
    assert channel.url == url  # the value itself is kept for the network layer


def test_child_processes_do_not_get_the_merged_auth_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LOW: every post-link script inherited `RATTLER_AUTH_FILE` naming the merged file, so a package's
    script could read a password that was only in the spec's URL. Link scripts and uv now get the user's
    own file back (or none)."""
    import os

    import cenv.net as net_module
    from cenv.config import load_config
    from cenv.net import Network, public_environment

    own = tmp_path / "own-auth.json"
    own.write_text('{"other.host": {"CondaToken": "mine"}}')
    monkeypatch.setenv("RATTLER_AUTH_FILE", str(own))
    net = Network(load_config())
    monkeypatch.setattr(net_module, "_CURRENT", net)
    net.clean(f"https://alice:{PASSWORD}@private.host/chan")
    net.client()  # writes the merged file and points RATTLER_AUTH_FILE at it
    merged = Path(os.environ["RATTLER_AUTH_FILE"])
    try:
        assert merged != own and PASSWORD in merged.read_text()
        child = public_environment(dict(os.environ))
        assert child["RATTLER_AUTH_FILE"] == str(own)
        from cenv.pip.uv import uv_env

        assert uv_env({}).get("RATTLER_AUTH_FILE") == str(own)
    finally:
        net_module.cleanup()
    assert not merged.exists()
