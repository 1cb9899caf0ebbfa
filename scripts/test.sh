#!/usr/bin/env bash
# The test command: set up .venv, then lint, type-check and run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
# The container tests (tests/test_image.py) use skopeo, umoci and busybox-static from Debian's packages:
# installed here where this runs as root with apt-get; elsewhere those tests skip naming them (CI: fail).
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    if ! command -v skopeo >/dev/null || ! command -v umoci >/dev/null || ! command -v busybox >/dev/null; then
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq skopeo umoci busybox-static) \
            >/dev/null 2>&1 || echo "warning: could not install skopeo, umoci and busybox-static" >&2
    fi
fi
.venv/bin/ruff check src tests benchmarks scripts
.venv/bin/ruff format --check src tests benchmarks scripts
.venv/bin/mypy
.venv/bin/mypy --python-version 3.10  # the lowest Python cenv declares (pyproject requires-python)
.venv/bin/lint-imports
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
