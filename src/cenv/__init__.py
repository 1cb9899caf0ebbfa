"""cenv: declarative, CUDA-aware conda environments. Importing this stays cheap."""

__version__ = "0.1.0"
