"""The environment spec: `load_spec(paths) -> Spec`. See `models.py` for the data and `load.py` for YAML."""

from cenv.spec.load import load_spec, load_spec_text
from cenv.spec.models import CondaDependency, Location, PipOptions, PipRequirement, Spec

__all__ = [
    "CondaDependency",
    "Location",
    "PipOptions",
    "PipRequirement",
    "Spec",
    "load_spec",
    "load_spec_text",
]
