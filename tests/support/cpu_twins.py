"""A copy of a real conda-forge mirror whose CUDA-only pytorch/libtorch builds get CPU twins.

``../shared/realdata/channels/pytorch-gpu-multiplatform`` was derived from a GPU project's lock, so on
linux-64 and win-64 it has only CUDA builds of pytorch and libtorch. conda-forge publishes a `cpu_*` build
next to each (`pytorch-2.8.0-cpu_mkl_py313_..._302`): no `__cuda`, no CUDA libraries among its `depends`,
its `libtorch` pin naming the cpu build, and `constrains` that name `pytorch-cpu` rather than `pytorch-gpu`.
`cpu_twins` writes such records into a copy made under a test's tmp folder (never into the repository or
../shared), so a `cuda: null` variant has something to solve to there.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path
from typing import Any

TWINNED = ("pytorch", "libtorch")
# What a CUDA build needs that its cpu twin does not (conda-forge's cpu builds depend on none of these).
_CUDA_DEPENDS = re.compile(
    r"^(__cuda|cuda-[\w-]+|cudnn|nccl|cusparselt|libcu\w*|libmagma\w*|libcudss\w*|libnvjitlink|magma|triton)\b"
)


def cpu_build(build: str) -> str:
    """`cuda129_mkl_py313_h7947483_302` -> `cpu_mkl_py313_h7947483_302`."""
    return re.sub(r"^cuda\d+", "cpu", build)


def _twin(record: dict[str, Any]) -> dict[str, Any]:
    twin = dict(record)
    twin["build"] = cpu_build(record["build"])
    depends = []
    for dep in record.get("depends") or ():
        if _CUDA_DEPENDS.match(dep):
            continue
        parts = dep.split()
        if parts[0] == "libtorch" and len(parts) == 3:
            dep = f"libtorch {parts[1]} {cpu_build(parts[2])}"
        depends.append(dep)
    twin["depends"] = depends
    version = record["version"]
    constrains = []
    for item in record.get("constrains") or ():
        name = item.split()[0]
        if name == "pytorch-gpu":
            constrains.append("pytorch-gpu <0.0a0")
        elif name == "pytorch-cpu":
            constrains.append(f"pytorch-cpu {version}")
        elif name == "pytorch":
            parts = item.split()
            constrains.append(" ".join([*parts[:2], cpu_build(parts[2])] if len(parts) == 3 else parts))
        else:
            constrains.append(item)
    twin["constrains"] = constrains
    seed = f"cpu twin of {record['name']}-{version}-{record['build']}".encode()
    twin["md5"] = hashlib.md5(seed).hexdigest()
    twin["sha256"] = hashlib.sha256(seed).hexdigest()
    return twin


def cpu_twins(source: Path, dest: Path) -> Path:
    """Copy the channel at `source` to `dest`, adding a cpu twin of every CUDA pytorch/libtorch build."""
    shutil.copytree(source, dest)
    for repodata in sorted(dest.glob("*/repodata.json")):
        repodata.chmod(0o644)
        data = json.loads(repodata.read_text())
        for key in ("packages", "packages.conda"):
            records = data.get(key) or {}
            added = {}
            for filename, record in records.items():
                if record.get("name") in TWINNED and record.get("build", "").startswith("cuda"):
                    twin = _twin(record)
                    ext = ".conda" if filename.endswith(".conda") else ".tar.bz2"
                    added[f"{record['name']}-{record['version']}-{twin['build']}{ext}"] = twin
            records.update(added)
        repodata.write_text(json.dumps(data))
    for folder in [dest, *dest.iterdir()]:
        if folder.is_dir():
            folder.chmod(0o755)
    return dest
