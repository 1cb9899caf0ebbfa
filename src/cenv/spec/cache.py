"""Specs that were read and validated before, kept by content in cenv's cache.

A warm `cenv lock`, `lock --check` or `create SPEC` reads the same spec files again and again. Parsing them
(ruamel.yaml, pure Python) and validating them (pydantic) is fast, but importing those two and building the
validators is ~60 ms of every such process (issue #6). So a spec that loaded without error is stored as JSON
under `<cache>/specs/<key>.json`, where the key hashes cenv's version and every file's label and text;
`load.py` is not imported at all when the key is there. Errors are never cached: a bad spec always goes
through the full reader, which names the file, line and key.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

import cenv
from cenv.cache_files import store_text
from cenv.errors import SpecError
from cenv.redact import redact
from cenv.spec.models import CondaDependency, Location, PipOptions, PipRequirement, Spec, Variant

__all__ = ["MAX_SPEC_BYTES", "cached_spec", "read_spec_file", "spec_key", "store_spec"]

# Spec files are a few KB; refuse anything absurdly large before the (pure-Python) YAML parser sees it.
MAX_SPEC_BYTES = 4 * 1024 * 1024
_FORMAT = "1"  # bump when the stored layout changes
_MAX_ENTRIES = 256  # older entries go when a new one is stored


def read_spec_file(path: Path, label: str) -> str:
    """The text of a spec file, read with a size limit; every failure is a one-line SpecError."""
    try:
        # bounded: `/dev/zero` or a huge file must not fill memory; O_NONBLOCK: a FIFO must not hang
        with os.fdopen(os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)), "rb") as handle:
            if stat.S_ISFIFO(os.fstat(handle.fileno()).st_mode) or stat.S_ISSOCK(
                os.fstat(handle.fileno()).st_mode
            ):
                raise SpecError(f"{label}: is a pipe or a socket, expected a spec file")
            raw = handle.read(MAX_SPEC_BYTES + 1)
        if len(raw) > MAX_SPEC_BYTES:
            raise SpecError(
                f"{label}: spec file too large (more than {MAX_SPEC_BYTES:,} bytes)",
                ["an environment spec lists channels and packages; it is normally a few kilobytes"],
            )
        text = decode_spec(raw, label)
    except FileNotFoundError:
        raise SpecError(
            f"{label}: spec file not found",
            ["pass the path of an environment file, e.g. `cenv lock environment.yml`"],
        ) from None
    except IsADirectoryError:
        raise SpecError(f"{label}: is a directory, expected a spec file") from None
    except OSError as exc:
        raise SpecError(f"{label}: cannot read the spec file: {exc.strerror or exc}") from None
    return text


_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def decode_spec(raw: bytes, label: str) -> str:
    """Spec bytes as text, decoded as conda's `from_file` (conda/env/env.py) decodes them: UTF-8, else UTF-16.

    Windows PowerShell's `conda env export > environment.yml` writes UTF-16 with a byte-order mark; conda
    reads it, so cenv does. Only a file that starts with a UTF-16 byte-order mark is tried as UTF-16 (conda
    tries any file, which turns a stray Latin-1 byte into a page of CJK text and a baffling YAML error).
    A UTF-8 byte-order mark is dropped. Line numbers are those of the decoded text, the same lines.
    """
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        if not raw.startswith(_UTF16_BOMS):
            raise SpecError(
                f"{label}: not UTF-8 text ({exc.reason} at byte {exc.start})",
                ["save the file as UTF-8 (or UTF-16 with a byte-order mark, as PowerShell writes it)"],
            ) from None
    try:
        return raw.decode("utf-16")  # the mark picks the byte order and is dropped
    except UnicodeDecodeError as exc:
        raise SpecError(
            f"{label}: not UTF-16 text despite its byte-order mark ({exc.reason} at byte {exc.start})",
            ["save the file as UTF-8"],
        ) from None


def spec_key(files: Sequence[tuple[str, str]]) -> str:
    """The cache key of spec files given as (label, text): labels appear in locations and messages."""
    # the reader's own modification time too: a development checkout changes it without a new version
    try:  # every module of the reader (spec/*.py), not only load.py
        reader = max(os.stat(f).st_mtime_ns for f in Path(__file__).parent.glob("*.py"))
    except (OSError, ValueError):
        reader = 0
    digest = hashlib.sha256(f"cenv {cenv.__version__} {reader} spec cache {_FORMAT}\0".encode())
    for label, text in files:
        for value in (label, text):
            data = value.encode("utf-8", "surrogateescape")
            digest.update(f"{len(data)}\0".encode() + data)
    return digest.hexdigest()


def _folder() -> Path:
    from cenv.env_vars import cache_root

    return cache_root() / "specs"


def cached_spec(key: str) -> Spec | None:
    """The spec stored under `key`, or None (absent, unreadable or not in this cenv's layout)."""
    try:
        data = json.loads((_folder() / f"{key}.json").read_bytes())
        return _from_data(data)
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None


def store_spec(key: str, spec: Spec) -> None:
    """Keep `spec` under `key` (atomically; a cache that cannot be written is skipped). A spec with
    credentials in it (a channel or index URL with a token or password) is not kept: cenv writes secrets
    nowhere, its cache included."""
    text = json.dumps(_to_data(spec), separators=(",", ":"))
    if redact(text) != text:
        return
    store_text(_folder(), f"{key}.json", text, _MAX_ENTRIES)


def _to_data(spec: Spec) -> dict[str, Any]:
    data = asdict(spec)
    data["exclude_newer"] = spec.exclude_newer.isoformat() if spec.exclude_newer else None
    return data


def _from_data(data: dict[str, Any]) -> Spec:
    options = data["pip_options"]
    when = data["exclude_newer"]
    return Spec(
        name=data["name"],
        channels=tuple(data["channels"]),
        nodefaults=data["nodefaults"],
        dependencies=tuple(
            CondaDependency(
                spec=d["spec"],
                name=d["name"],
                location=Location(**d["location"]),
                channel=d["channel"],
                selector=d["selector"],
            )
            for d in data["dependencies"]
        ),
        pip=tuple(
            PipRequirement(
                requirement=r["requirement"], location=Location(**r["location"]), selector=r["selector"]
            )
            for r in data["pip"]
        ),
        variables=dict(data["variables"]),
        platforms=tuple(data["platforms"]),
        cuda=data["cuda"],
        channel_priority=data["channel_priority"],
        exclude_newer=datetime.fromisoformat(when) if when else None,
        pip_options=PipOptions(
            index_url=options["index_url"],
            extra_index_urls=tuple(options["extra_index_urls"]),
            find_links=tuple(options["find_links"]),
            pytorch_index=options["pytorch_index"],
            fallback=bool(options.get("fallback", False)),
        ),
        variants={name: Variant(cuda=v["cuda"]) for name, v in data["variants"].items()},
        sources=tuple(data["sources"]),
        warnings=tuple(data["warnings"]),
        **{
            k: v for k, v in data.items() if k not in _BUILT and k in _spec_fields()
        },  # plain fields as they are
    )


# The fields `_from_data` rebuilds itself; any other field of Spec is a plain value stored as it is.
_BUILT = frozenset(
    [
        "name",
        "channels",
        "nodefaults",
        "dependencies",
        "pip",
        "variables",
        "platforms",
        "cuda",
        "channel_priority",
        "exclude_newer",
        "pip_options",
        "variants",
        "sources",
        "warnings",
    ]
)


def _spec_fields() -> frozenset[str]:
    from dataclasses import fields

    return frozenset(f.name for f in fields(Spec))
