"""Credentials in channel URLs never reach stdout, stderr, the lockfile or an export.

Channels are served over a real HTTP server on 127.0.0.1 in the three forms users write:
`http://user:secret@host/chan`, anaconda.org's token path `http://host/t/<token>/chan`, and a token in the
query string. Successful locks (with `--json`) and failing ones (server errors, unsolvable specs) are both
checked, and so is `cenv export`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.cli_helpers import Result, cenv
from tests.support.http_server import ChannelServer

from cenv.redact import REDACTED, redact, strip_credentials

SECRET = "s3cr3t-T0KEN-4a7f"
USER = "alice"


class TokenPathServer(ChannelServer):
    """A ChannelServer that also answers anaconda.org-style `/t/<token>/<channel>/...` paths.

    Requests with a token must carry `SECRET`; the token is stripped before the file is looked up.
    """

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.bad_tokens: list[str] = []

    def _resolve(self, path: str) -> Path | None:
        if path.startswith("/api/t/"):  # Anaconda Server's layout: the token after a path prefix
            path = path.removeprefix("/api")
        if path.startswith("/t/"):
            _, _, token, rest = path.split("/", 3)
            if token != SECRET:
                self.bad_tokens.append(token)
                return None
            path = "/" + rest
        return super()._resolve(path)


@pytest.fixture
def server(demo_web_root: Path) -> Iterator[TokenPathServer]:
    with TokenPathServer(demo_web_root) as srv:
        yield srv


def _channel(server: ChannelServer, form: str) -> str:
    host = server.url.removeprefix("http://")
    if form == "userinfo":
        return f"http://{USER}:{SECRET}@{host}/demo"
    if form == "token-only-userinfo":
        return f"http://{SECRET}@{host}/demo"
    if form == "token-path":
        return f"http://{host}/t/{SECRET}/demo"
    if form == "api-token-path":
        return f"http://{host}/api/t/{SECRET}/demo"
    if form == "userinfo-and-token-path":  # both: neither may be dropped (issue #20)
        return f"http://{USER}:{SECRET}@{host}/t/{SECRET}/demo"
    raise AssertionError(form)


FORMS = ["userinfo", "token-only-userinfo", "token-path", "api-token-path", "userinfo-and-token-path"]
TOKEN_FORMS = {"token-path": "/t/*", "api-token-path": "/api/t/*", "userinfo-and-token-path": "/t/*"}


def _assert_clean(*texts: str) -> None:
    for text in texts:
        assert SECRET not in text, text[: text.find(SECRET) + 200]


def _files_clean(folder: Path) -> None:
    """Everything cenv wrote into `folder` (not the spec we wrote, not the repodata cache under `c/`)."""
    for path in folder.rglob("*"):
        if path.is_relative_to(folder / "c") or path.name == "env.yml":
            continue
        if path.is_file() and path.suffix in (".yml", ".txt", ".json", ".lock"):
            _assert_clean(path.read_text(encoding="utf-8", errors="replace"))


def _lock(tmp_path: Path, spec_text: str, *extra: str) -> Result:
    spec = tmp_path / "env.yml"
    spec.write_text(spec_text)
    return cenv(
        "lock",
        spec,
        "-p",
        "linux-64",
        "--json",
        *extra,
        cwd=tmp_path,
        env={"CENV_CACHE_DIR": str(tmp_path / "c")},
    )


@pytest.mark.parametrize("form", FORMS)
def test_lock_and_export_never_show_the_secret(tmp_path: Path, server: TokenPathServer, form: str) -> None:
    url = _channel(server, form)
    result = _lock(tmp_path, f"channels: ['{url}']\ndependencies: [cenv-demo-app]\n")
    assert result.code == 0, result.output
    assert server.count(TOKEN_FORMS[form]) > 0 if form in TOKEN_FORMS else True
    assert not server.bad_tokens
    _assert_clean(result.stdout, result.stderr)
    lockfile = tmp_path / "env-lock.yml"
    text = lockfile.read_text()
    _assert_clean(text)
    assert "cenv-demo-app" in text and server.url in text
    assert "/t/" not in text
    export = cenv("export", lockfile, "--format", "explicit", "-p", "linux-64", cwd=tmp_path)
    assert export.code == 0, export.output
    _assert_clean(export.stdout, export.stderr)
    out = tmp_path / "env.txt"
    export_file = cenv("export", lockfile, "-p", "linux-64", "-o", out, cwd=tmp_path)
    assert export_file.code == 0, export_file.output
    _files_clean(tmp_path)


@pytest.mark.parametrize("form", FORMS)
def test_channel_on_the_command_line(tmp_path: Path, server: TokenPathServer, form: str) -> None:
    result = _lock(tmp_path, "dependencies: [libcenv-base]\n", "-c", _channel(server, form))
    assert result.code == 0, result.output
    _assert_clean(result.stdout, result.stderr)
    _files_clean(tmp_path)


@pytest.mark.parametrize("form", FORMS)
def test_server_errors_do_not_show_the_secret(tmp_path: Path, server: TokenPathServer, form: str) -> None:
    server.fail_paths["*repodata*"] = 500
    result = _lock(tmp_path, f"channels: ['{_channel(server, form)}']\ndependencies: [cenv-demo-app]\n")
    assert result.code == 1, result.output
    assert result.stderr.startswith("error:")
    _assert_clean(result.stdout, result.stderr)
    assert not (tmp_path / "env-lock.yml").exists()


# each unsolvable spec with the words its error must carry (issue #25: the old check was `hint: or error:`)
UNSOLVABLE = {
    "[no-such-package-xyz]": "no package named `no-such-package-xyz`",
    "['cenv-demo-app >=99']": "no solution for linux-64: ",
    "[cenv-accel]": "`cenv-accel 1.0.0` needs `__cuda >=12`",
    "['libcenv-base', 'libcenv-bse']": "did you mean `libcenv-base`",
}


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("deps", sorted(UNSOLVABLE))
def test_unsolvable_specs_do_not_show_the_secret(
    tmp_path: Path, server: TokenPathServer, form: str, deps: str
) -> None:
    # cenv-accel: only the cuda build or the cpu build... both solvable, so add a conflicting pin
    spec = f"channels: ['{_channel(server, form)}']\ndependencies: {deps}\n"
    if deps == "[cenv-accel]":
        spec = f"channels: ['{_channel(server, form)}']\ndependencies: ['cenv-accel=*=cuda*']\n"
    result = _lock(tmp_path, spec)
    assert result.code == 1, result.output
    _assert_clean(result.stdout, result.stderr)
    assert result.stderr.startswith("error: "), result.stderr
    assert UNSOLVABLE[deps] in result.stderr, result.stderr


def test_unreachable_channel_with_credentials(tmp_path: Path) -> None:
    result = _lock(
        tmp_path, f"channels: ['http://{USER}:{SECRET}@127.0.0.1:9/demo']\ndependencies: [x]\n", "--offline"
    )
    assert result.code == 1, result.output
    _assert_clean(result.stdout, result.stderr)


def test_channel_pinned_match_spec_with_credentials(tmp_path: Path, server: TokenPathServer) -> None:
    """`<url-with-credentials>::pkg` in the dependencies: the lockfile must not keep the credentials."""
    url = _channel(server, "userinfo")
    result = _lock(tmp_path, f"channels: ['{url}']\ndependencies: ['{url}::cenv-demo-app']\n")
    assert result.code == 0, result.output
    _assert_clean(result.stdout, result.stderr)
    _files_clean(tmp_path)


def test_env_var_token_is_not_written(tmp_path: Path, server: TokenPathServer) -> None:
    """A `${CONDA_TOKEN}` placeholder (conda-lock style): expanded or not, the value stays out."""
    host = server.url.removeprefix("http://")
    spec = f"channels: ['http://{host}/t/${{CONDA_TOKEN}}/demo']\ndependencies: [libcenv-base]\n"
    (tmp_path / "env.yml").write_text(spec)
    result = cenv(
        "lock",
        tmp_path / "env.yml",
        "-p",
        "linux-64",
        "--json",
        cwd=tmp_path,
        env={"CONDA_TOKEN": SECRET, "CENV_CACHE_DIR": str(tmp_path / "c")},
    )
    assert result.code == 0, result.output
    _assert_clean(result.stdout, result.stderr)
    _files_clean(tmp_path)


# --------------------------------------------------------------------------------------------- unit


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://user:pw@host/c", f"https://user:{REDACTED}@host/c"),
        ("https://tok@host/c", f"https://{REDACTED}@host/c"),
        ("https://host/t/abc-123/c/noarch", f"https://host/t/{REDACTED}/c/noarch"),
        ("https://host/c?token=abc&x=1", f"https://host/c?token={REDACTED}&x=1"),
        ("https://host/c?x=1&ACCESS_TOKEN=abc#f", f"https://host/c?x=1&ACCESS_TOKEN={REDACTED}#f"),
        (
            "error: GET http://u:p@h:8/c failed; see https://t@h2/x",
            f"error: GET http://u:{REDACTED}@h:8/c failed; see https://{REDACTED}@h2/x",
        ),
        ("s3://key:secret@bucket/c", f"s3://key:{REDACTED}@bucket/c"),
        ("no urls here", "no urls here"),
        ("https://host/c/linux-64/a-1-0.conda", "https://host/c/linux-64/a-1-0.conda"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected
    assert redact(redact(text)) == redact(text)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://user:pw@host/c", "https://host/c"),
        ("https://tok@host/c", "https://host/c"),
        ("https://host/t/abc/c/linux-64/a-1-0.conda", "https://host/c/linux-64/a-1-0.conda"),
        ("https://host/c?token=abc", "https://host/c"),
        ("https://host/c?token=abc&keep=1", "https://host/c?keep=1"),
        ("conda-forge", "conda-forge"),
    ],
)
def test_strip_credentials(url: str, expected: str) -> None:
    assert strip_credentials(url) == expected
    assert SECRET not in strip_credentials(url.replace("abc", SECRET).replace("pw", SECRET))


def test_redact_hides_every_secret_we_test_with() -> None:
    for form in ("http://u:{s}@h/c", "http://{s}@h/c", "http://h/t/{s}/c", "http://h/c?token={s}"):
        assert SECRET not in redact(form.format(s=SECRET))
        assert SECRET not in strip_credentials(form.format(s=SECRET))


@pytest.mark.parametrize("form", FORMS)
def test_repodata_cache_does_not_store_credentials(
    tmp_path: Path, server: TokenPathServer, form: str
) -> None:
    """Credentials are taken out of channel URLs before rattler sees them (its cache records URLs,
    `*.info.json` and `*.shards-cache-v1`): they reach the server through rattler's auth middleware."""
    result = _lock(tmp_path, f"channels: ['{_channel(server, form)}']\ndependencies: [libcenv-base]\n")
    assert result.code == 0, result.output
    for path in (tmp_path / "c").rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


@pytest.mark.parametrize("form", FORMS)
def test_cenvs_own_caches_never_hold_the_secret(tmp_path: Path, server: TokenPathServer, form: str) -> None:
    """The spec cache and the pip stage's caches are cenv's own (unlike rattler's repodata cache, above):
    a spec with credentials is not kept, and nothing else there carries them."""
    spec_text = f"channels: ['{_channel(server, form)}']\ndependencies: [libcenv-base]\n"
    for _ in range(2):
        result = _lock(tmp_path, spec_text)
        assert result.code == 0, result.output
    own = [p for p in (tmp_path / "c").rglob("*") if p.is_file() and "repodata" not in p.parts]
    for path in own:
        assert SECRET.encode() not in path.read_bytes(), path
    assert not (tmp_path / "c" / "specs").exists() or not any((tmp_path / "c" / "specs").iterdir())
    clean = tmp_path / "clean.yml"
    clean.write_text("channels: [conda-forge]\ndependencies: [python]\n")
    from cenv.spec import load_spec

    load_spec([clean])  # the autouse fixture's cache, not the one above: a spec without secrets is kept
    assert any((Path(os.environ["CENV_CACHE_DIR"]) / "specs").iterdir())
