#!/usr/bin/env bash
# The main job: build a demo channel of real conda archives, lock environments/demo.yml against it,
# create the environment from the lock, and run a command inside it. Offline except PyPI (for setup).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
demo=.demo
rm -rf "$demo"
mkdir -p "$demo"
.venv/bin/python scripts/build_demo_channel.py "$demo/channels"
export CENV_CACHE_DIR="$PWD/$demo/cache"
export CONDA_PKGS_DIRS="$PWD/$demo/pkgs"
alias_url="file://$PWD/$demo/channels"
cenv=.venv/bin/cenv
set -x
$cenv lock environments/demo.yml --channel-alias "$alias_url" -o "$demo/demo-lock.yml"
$cenv export "$demo/demo-lock.yml" --format explicit -o "$demo/demo-explicit.txt"
if $cenv create --help >/dev/null 2>&1; then
    $cenv create "$demo/demo-lock.yml" -p "$demo/env"
    $cenv run -p "$demo/env" -- hello-cenv
    $cenv run -p "$demo/env" -- python -c "import hello_cenv, sys; print(hello_cenv.__version__, sys.prefix)"
fi
