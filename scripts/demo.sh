#!/usr/bin/env bash
# The main job: build a demo channel of real conda archives, lock environments/demo.yml against it
# (both CUDA variants), create the environment for this host, and run commands inside it.
# Offline except PyPI (setup, and the spec's pip part).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
demo=.demo
rm -rf "$demo"
mkdir -p "$demo"
.venv/bin/python scripts/build_demo_channel.py "$demo/channels"
export CENV_CACHE_DIR="$PWD/$demo/cache"
export CONDA_PKGS_DIRS="$PWD/$demo/pkgs"
export CONDA_CHANNEL_ALIAS="file://$PWD/$demo/channels"
cp environments/demo.yml "$demo/demo.yml"
cenv=.venv/bin/cenv
set -x
$cenv lock "$demo/demo.yml"                      # -> demo.cpu-lock.yml and demo.cu12-lock.yml
$cenv lock "$demo/demo.yml" --variant cpu --check
$cenv why hello-cenv -l "$demo/demo.cpu-lock.yml"
$cenv diff "$demo/demo.cpu-lock.yml" "$demo/demo.cu12-lock.yml"
$cenv create "$demo/demo.yml" --variant auto -p "$demo/env"
$cenv run -p "$demo/env" -- hello-cenv
$cenv run -p "$demo/env" -- python -c "import hello_cenv, six, os, sys; print(sys.prefix, os.environ['CENV_DEMO_GREETING'])"
$cenv export "$demo/demo.cpu-lock.yml" --format share -o "$demo/share"
