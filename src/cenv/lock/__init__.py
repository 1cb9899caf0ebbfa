"""Lockfiles: cenv writes conda-lock v1, and reads conda-lock v1, explicit files and pixi.lock."""
