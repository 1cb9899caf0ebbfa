"""Channels as teams run them: a token channel over HTTPS with a private CA behind a forward proxy, configured
only by `.condarc` (in an isolated HOME) and rattler's auth file; basic-auth and `/t/<token>/` channels in
the spec; an `@EXPLICIT` file with `user:pass@` URLs; a certificate that does not verify; mirrors whose first
entry is down. Every server is real and on 127.0.0.1; after each run every file written (the lock's folder,
the caches, the prefix, HOME) is scanned for the secret.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.cli_helpers import cenv
from tests.support.secure_server import AuthChannelServer, ConnectProxy

trustme = pytest.importorskip("trustme", reason="trustme (test extra) builds the private CA")

SECRET = "tEaM-s3cr3t-9b1c"
USER = "alice"
_NETWORK_ENV = (
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "https_proxy",
    "http_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "RATTLER_AUTH_FILE",
    "CONDARC",
    "NETRC",
)


@pytest.fixture(scope="module")
def ca() -> object:
    return trustme.CA()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated HOME (its .condarc and config.toml are the test's), no proxy/CA/auth variables."""
    home = tmp_path / "home"
    home.mkdir()
    for name in _NETWORK_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("CENV_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    return home


@pytest.fixture
def proxy() -> Iterator[ConnectProxy]:
    with ConnectProxy() as running:
        yield running


def _scan(*folders: Path, allowed: tuple[Path, ...] = ()) -> list[Path]:
    """Every file under `folders` holding the secret (except the auth files the test wrote), and every
    file cenv or rattler wrote that others may read while it holds it."""
    found = []
    for folder in folders:
        for path in folder.rglob("*"):
            if path in allowed or not path.is_file() or path.is_symlink():
                continue
            if SECRET.encode() in path.read_bytes():
                found.append(path)
    return found


def _spec(folder: Path, channel: str | None = None) -> Path:
    spec = folder / "env.yml"
    channels = f"channels: ['{channel}']\n" if channel else ""
    spec.write_text(f"{channels}dependencies: [cenv-demo-app]\n")
    return spec


def test_token_channel_over_https_with_private_ca_behind_a_proxy(
    tmp_path: Path, home: Path, demo_web_root: Path, ca: object, proxy: ConnectProxy
) -> None:
    """The issue's "Done when": lock and create through a token channel over HTTPS with a private CA,
    behind a proxy, configured only by .condarc and an auth file; no file written holds the token."""
    ca_pem = home / "corp-ca.pem"
    ca.cert_pem.write_to_path(str(ca_pem))  # type: ignore[attr-defined]
    with AuthChannelServer(demo_web_root, token=SECRET, tls=ca) as server:
        auth = home / "auth.json"
        auth.write_text(json.dumps({"127.0.0.1": {"CondaToken": SECRET}}))
        (home / ".condarc").write_text(
            f"channels:\n  - {server.url}/demo\nssl_verify: {ca_pem}\nproxy_servers:\n  https: {proxy.url}\n"
        )
        os.environ["RATTLER_AUTH_FILE"] = str(auth)
        before_auth = sorted(_auth_files())
        try:
            work = tmp_path / "work"
            work.mkdir()
            spec = _spec(work)
            locked = cenv("lock", spec, "--json", cwd=work)
            assert locked.code == 0, locked.output
            text = (work / "env-lock.yml").read_text()
            assert f"{server.url}/demo" in text and "cenv-demo-app" in text
            prefix = tmp_path / "env"
            created = cenv("create", spec, "-p", prefix, "--json", cwd=work)
            assert created.code == 0, created.output
            exported = cenv("export", work / "env-lock.yml", "-o", work / "explicit.txt", cwd=work)
            assert exported.code == 0, exported.output
        finally:
            del os.environ["RATTLER_AUTH_FILE"]
        assert (prefix / "conda-meta").is_dir()
        assert any(p.name.startswith("cenv-demo-app-") for p in (prefix / "conda-meta").iterdir())
        assert server.count("*.conda") + server.count("*.tar.bz2") > 0  # archives came over HTTPS
        assert server.count("*repodata*") > 0
        assert not server.denied, server.denied
        target = f"127.0.0.1:{server.port}"
        assert proxy.seen and set(proxy.seen) == {target}, proxy.seen  # every connection via the proxy
        for result in (locked, created, exported):
            assert SECRET not in result.output
        assert _scan(tmp_path, allowed=(auth,)) == []
        # the merged auth file (it holds the token) is removed when each command ends (issue #25: the old
        # check accepted any leftover that was private)
        assert sorted(_auth_files()) == before_auth, "a cenv-auth-* file was left behind"


def _auth_files() -> list[Path]:
    """The merged auth files cenv processes keep in the temp folder while they run."""
    return list(Path(os.environ.get("TMPDIR", "/tmp")).glob("cenv-auth-*/credentials.json"))


@pytest.mark.parametrize("form", ["basic", "token-path"])
def test_credentials_in_the_spec_reach_archive_downloads(
    tmp_path: Path, home: Path, demo_web_root: Path, form: str
) -> None:
    """Before: `cenv create` of a spec whose channel carries credentials failed with HTTP 401 (archives
    were fetched without them). The lock never holds them; create finds them again by host."""
    basic, token = ((USER, SECRET), None) if form == "basic" else (None, SECRET)
    with AuthChannelServer(demo_web_root, basic=basic, token=token) as server:
        host = server.url.removeprefix("http://")
        url = f"http://{USER}:{SECRET}@{host}/demo" if form == "basic" else f"http://{host}/t/{SECRET}/demo"
        spec = _spec(tmp_path, url)
        prefix = tmp_path / "env"
        created = cenv("create", spec, "-p", prefix)
        assert created.code == 0, created.output
        assert not server.denied, server.denied
        assert server.count("*.conda") > 0
        assert SECRET not in created.output
        assert SECRET not in (tmp_path / "env-lock.yml").read_text()
        assert _scan(tmp_path, allowed=(spec,)) == []
        # a lockfile alone: the credentials are found again by host (here: the user's auth file)
        auth = home / "auth.json"
        entry = {"BasicHTTP": {"username": USER, "password": SECRET}} if basic else {"CondaToken": SECRET}
        auth.write_text(json.dumps({"127.0.0.1": entry}))
        again = cenv(
            "create",
            tmp_path / "env-lock.yml",
            "-p",
            tmp_path / "env2",
            env={"RATTLER_AUTH_FILE": str(auth), "CENV_CACHE_DIR": str(tmp_path / "cache2")},
        )
        assert again.code == 0, again.output
        assert _scan(tmp_path, allowed=(spec, auth)) == []


def test_explicit_file_with_userinfo_urls_installs(tmp_path: Path, home: Path, demo_web_root: Path) -> None:
    with AuthChannelServer(demo_web_root, basic=(USER, SECRET)) as server:
        host = server.url.removeprefix("http://")
        spec = _spec(tmp_path, f"http://{USER}:{SECRET}@{host}/demo")
        assert cenv("lock", spec, cwd=tmp_path).code == 0
        exported = cenv("export", tmp_path / "env-lock.yml", cwd=tmp_path)
        assert exported.code == 0, exported.output
        explicit = tmp_path / "env.txt"
        explicit.write_text(exported.stdout.replace(f"http://{host}/", f"http://{USER}:{SECRET}@{host}/"))
        assert f"{USER}:{SECRET}@" in explicit.read_text()
        other_cache = {"CENV_CACHE_DIR": str(tmp_path / "c2")}
        created = cenv("create", explicit, "-p", tmp_path / "env", env=other_cache)
        assert created.code == 0, created.output
        assert SECRET not in created.output
        assert _scan(tmp_path, allowed=(spec, explicit)) == []


def test_certificate_that_does_not_verify_names_the_host(
    tmp_path: Path, home: Path, demo_web_root: Path, ca: object
) -> None:
    with AuthChannelServer(demo_web_root, tls=ca) as server:
        spec = _spec(tmp_path, f"{server.url}/demo")
        result = cenv("lock", spec, cwd=tmp_path)
        assert result.code == 1, result.output
        first = result.stderr.splitlines()[0]
        assert first.startswith("error:") and f"127.0.0.1:{server.port}" in first, result.stderr
        assert "certificate" in first and "ssl_verify" in result.stderr
        assert "Traceback" not in result.output
        assert not (tmp_path / "env-lock.yml").exists()


def test_requests_ca_bundle_and_ssl_cert_file(
    tmp_path: Path, home: Path, demo_web_root: Path, ca: object
) -> None:
    ca_pem = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_pem))  # type: ignore[attr-defined]
    with AuthChannelServer(demo_web_root, tls=ca) as server:
        for variable in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
            folder = tmp_path / variable
            folder.mkdir()
            spec = _spec(folder, f"{server.url}/demo")
            result = cenv("lock", spec, cwd=folder, env={variable: str(ca_pem)})
            assert result.code == 0, result.output


def test_mirror_list_whose_first_mirror_is_down(tmp_path: Path, home: Path, demo_web_root: Path) -> None:
    """config.toml `[mirrors]` (the table pixi and rattler read): the channel's own host does not exist,
    its first mirror refuses connections, the second serves; lock and create both succeed."""
    with AuthChannelServer(demo_web_root) as server:
        upstream = "http://channel.invalid/demo"
        config = home / ".config" / "rattler" / "config.toml"
        config.parent.mkdir(parents=True)
        config.write_text(f'[mirrors]\n"{upstream}" = ["http://127.0.0.1:9/demo", "{server.url}/demo"]\n')
        spec = _spec(tmp_path, upstream)
        locked = cenv("lock", spec, cwd=tmp_path)
        assert locked.code == 0, locked.output
        assert upstream in (tmp_path / "env-lock.yml").read_text()  # the lock names the channel, not mirrors
        created = cenv("create", tmp_path / "env-lock.yml", "-p", tmp_path / "env")
        assert created.code == 0, created.output
        assert server.count("*.conda") > 0


def test_condarc_drives_channels_alias_dirs_and_priority(
    tmp_path: Path, home: Path, demo_web_root: Path
) -> None:
    """A real .condarc in HOME: `channel_alias` (bare names), `custom_channels`, `envs_dirs` (`-n`),
    `pkgs_dirs` (the package cache), `channel_priority`; `CONDARC` adds a file; a variable beats both."""
    envs, pkgs = tmp_path / "envs", tmp_path / "pkgs"
    (home / ".condarc").write_text(
        f"channel_alias: {demo_web_root.as_uri()}\n"
        f"envs_dirs: [{envs}]\npkgs_dirs: [{pkgs}]\nchannel_priority: flexible\n"
    )
    spec = tmp_path / "env.yml"
    spec.write_text("channels: [demo]\ndependencies: [cenv-demo-app]\n")
    created = cenv("create", spec, "-n", "teamenv")
    assert created.code == 0, created.output
    assert (envs / "teamenv" / "conda-meta").is_dir()
    assert any(p.name.startswith("cenv-demo-app-") for p in pkgs.iterdir())
    import yaml

    meta = yaml.safe_load((tmp_path / "env-lock.yml").read_text())["metadata"]["custom_metadata"]
    assert meta["cenv.channel-priority"] == "flexible", meta  # from .condarc's `channel_priority`
    custom = tmp_path / "custom"
    custom.mkdir()
    (custom / "mine").symlink_to(demo_web_root / "demo", target_is_directory=True)
    extra = tmp_path / "extra.condarc"
    extra.write_text(f"custom_channels:\n  mine: {custom.as_uri()}\n")
    spec.write_text("channels: [mine]\ndependencies: [cenv-demo-app]\n")
    variables = {"CONDARC": str(extra), "CONDA_CHANNEL_ALIAS": "https://alias.invalid"}
    locked = cenv("lock", spec, "-o", tmp_path / "mine-lock.yml", env=variables)
    assert locked.code == 0, locked.output  # custom_channels wins over the alias for that name
    assert f"{custom.as_uri()}/mine/" in (tmp_path / "mine-lock.yml").read_text()


def test_load_config_precedence(tmp_path: Path, home: Path) -> None:
    from cenv.config import load_config

    (home / ".condarc").write_text(
        "channels: [a, b]\nchannel_alias: https://from-file\nssl_verify: false\n"
        "remote_read_timeout_secs: 12\nproxy_servers: {https: 'http://proxy:3128'}\noffline: true\n"
    )
    extra = tmp_path / "more.condarc"
    extra.write_text("channels: [c]\n")
    env = {"HOME": str(home), "CONDARC": str(extra), "CONDA_CHANNEL_ALIAS": "https://from-env"}
    config = load_config(env)
    assert config.channels == ("c", "a", "b")  # conda: the higher-precedence file's entries first
    assert (
        config.channel_alias == "https://from-env"
        and config.sources["channel_alias"] == "CONDA_CHANNEL_ALIAS"
    )
    assert config.ssl_verify is False and config.remote_read_timeout_secs == 12 and config.offline
    assert config.proxy_servers == {"https": "http://proxy:3128"}
    assert config.condarc_files == (home / ".condarc", extra)
    assert load_config({**env, "CONDA_OFFLINE": "false"}).offline is False
    extra.write_text("channels: [c]\nfetch_threads: 3\n")
    assert load_config(env).concurrency == 3
    assert load_config({**env, "CENV_CONCURRENCY": "5"}).concurrency == 5
    (home / ".condarc").write_text("channel_priority: sometimes\n")
    from cenv.errors import UserError

    with pytest.raises(UserError, match="channel_priority"):
        load_config(env)


def test_info_shows_sources_never_secrets(tmp_path: Path, home: Path, demo_web_root: Path) -> None:
    auth = home / "auth.json"
    auth.write_text(json.dumps({"auth.example": {"BearerToken": SECRET}}))
    (home / ".netrc").write_text(f"machine netrc.example login u password {SECRET}\n")
    (home / ".netrc").chmod(0o600)
    (home / ".condarc").write_text(
        f"channels: ['https://{USER}:{SECRET}@secret.example/chan', conda-forge]\n"
        "custom_channels: {mine: 'https://mine.example'}\n"
    )
    config = home / ".config" / "rattler" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('[mirrors]\n"https://conda.anaconda.org/conda-forge" = ["https://mirror.example/cf"]\n')
    result = cenv("info", "--json", env={"RATTLER_AUTH_FILE": str(auth)})
    assert result.code == 0, result.output
    info = json.loads(result.stdout)
    assert SECRET not in result.output
    assert str(home / ".condarc") in info["config_files"] and str(config) in info["config_files"]
    assert info["credentials"]["secret.example"] == "channel url"
    assert info["credentials"]["auth.example"].startswith("RATTLER_AUTH_FILE")
    assert info["credentials"]["netrc.example"] == "~/.netrc"
    assert info["mirrors"] == {"https://conda.anaconda.org/conda-forge": ["https://mirror.example/cf"]}
    assert "https://conda.anaconda.org/conda-forge" in [c["url"] for c in info["channels"]]
    assert info["virtual_packages"] and info["engines"]["py-rattler"]
    text = cenv("info", env={"RATTLER_AUTH_FILE": str(auth)})
    assert text.code == 0 and "secret.example: channel url" in text.stdout and SECRET not in text.output


def test_proxy_variables_and_no_proxy(
    tmp_path: Path, home: Path, demo_web_root: Path, proxy: ConnectProxy
) -> None:
    """`proxy_servers` (.condarc) carries plain-HTTP channel traffic; `HTTP_PROXY` beats it; `NO_PROXY`
    naming the host sends it direct."""
    with AuthChannelServer(demo_web_root) as server:
        (home / ".condarc").write_text("proxy_servers:\n  http: http://127.0.0.1:9\n")  # nothing listens
        spec = _spec(tmp_path, f"{server.url}/demo")
        via_env = cenv("lock", spec, env={"HTTP_PROXY": proxy.url})
        assert via_env.code == 0, via_env.output
        assert f"127.0.0.1:{server.port}" in proxy.seen
        seen = len(proxy.seen)
        (home / ".condarc").write_text(f"proxy_servers:\n  http: {proxy.url}\n")
        via_condarc = cenv("lock", spec, env={"CENV_CACHE_DIR": str(tmp_path / "c2")})
        assert via_condarc.code == 0, via_condarc.output
        assert len(proxy.seen) > seen
        seen = len(proxy.seen)
        direct = cenv(
            "create",
            spec,
            "-p",
            tmp_path / "env",
            env={"NO_PROXY": "127.0.0.1", "CENV_CACHE_DIR": str(tmp_path / "c3")},
        )
        assert direct.code == 0, direct.output
        assert len(proxy.seen) == seen  # not one connection through the proxy


def test_ssl_verify_false_and_a_token_from_the_auth_file(
    tmp_path: Path, home: Path, demo_web_root: Path, ca: object
) -> None:
    """`ssl_verify: false` (conda's switch for a self-signed server): the certificate is not checked, the
    credentials still come from the auth file."""
    with AuthChannelServer(demo_web_root, token=SECRET, tls=ca) as server:
        auth = home / "auth.json"
        auth.write_text(json.dumps({"127.0.0.1": {"CondaToken": SECRET}}))
        (home / ".condarc").write_text("ssl_verify: false\n")
        spec = _spec(tmp_path, f"{server.url}/demo")
        locked = cenv("lock", spec, env={"RATTLER_AUTH_FILE": str(auth)})
        assert locked.code == 0, locked.output
        assert not server.denied and server.count("*repodata*") > 0
        assert _scan(tmp_path, allowed=(auth,)) == []


def test_offline_in_condarc_uses_cached_repodata(tmp_path: Path, home: Path, demo_web_root: Path) -> None:
    with AuthChannelServer(demo_web_root) as server:
        spec = _spec(tmp_path, f"{server.url}/demo")
        assert cenv("lock", spec).code == 0
    # the server is gone: a plain lock fails, `offline: true` in .condarc locks from the cache
    assert cenv("lock", spec, "-o", tmp_path / "again-lock.yml").code == 1
    (home / ".condarc").write_text("offline: true\n")
    offline = cenv("lock", spec, "-o", tmp_path / "again-lock.yml")
    assert offline.code == 0, offline.output
    assert "cenv-demo-app" in (tmp_path / "again-lock.yml").read_text()
