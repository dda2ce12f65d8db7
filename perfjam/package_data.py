"""The files PerfJam ships (models, their card, its SoundFont, its icon), found through
``importlib.resources`` as the package ``perfjam.assets``: the repository's ``assets/`` folder,
which ``pyproject.toml`` installs under that name. A checkout (``pip install -e .``) and an
installed wheel resolve them alike; the files are never copied into ``perfjam/``.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

ASSETS_PACKAGE = "perfjam.assets"


def assets_dir() -> Path:
    """The folder of the shipped files (``assets/`` in a checkout, ``perfjam/assets/`` installed)."""
    root = files(ASSETS_PACKAGE)
    if not isinstance(root, Path):  # e.g. a zipped install: onnxruntime and FluidSynth need real files
        raise RuntimeError(f"PerfJam's files must be installed as files, not in {root}")
    return root


MODELS_DIR = assets_dir() / "models"
SOUNDFONTS_DIR = assets_dir() / "soundfonts"
ICONS_DIR = assets_dir() / "icons"
APP_ICON = ICONS_DIR / "perfjam.svg"
