"""Create conda environments from a lock: plan, fetch with hash checks, link with rattler, swap into place.

`plan.py` decides what to download and what to link from the package cache (pure), `fetch.py` downloads
and verifies archives, `conda.py` links them with rattler into a temporary sibling of the target and renames
it into place (`prefix.py`), `envs.py` resolves `-n NAME` and the package cache, `activate.py` runs commands
inside an environment.
"""
