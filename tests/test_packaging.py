"""PerfJam as a package: the shipped files are package data found through importlib.resources (in
this checkout: the repository's assets/ folder, their only home), the wheel and the sdist built
from pyproject.toml hold them with the licences and metadata an index expects and no top-level
``training``, and ``perfjam --version`` names what a bug report needs. tools/check-install.sh
(CI) installs the wheel into a fresh venv and runs it from there."""

from __future__ import annotations

import email
import os
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from importlib.resources import files
from pathlib import Path

import pytest

from perfjam import __version__
from perfjam.model import MODELS_DIR, find_model, shipped_models
from perfjam.package_data import APP_ICON, assets_dir
from perfjam.synth import SHIPPED_SOUNDFONT

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SHIPPED = ("models/perfjam-dynamics.onnx", "models/perfjam-nodynamics.onnx", "models/README.md",
           "models/LICENSE.md", "soundfonts/perfjam-piano.sf2", "soundfonts/LICENSE.md", "icons/perfjam.svg")


def test_the_shipped_files_resolve_through_importlib_resources_to_the_assets_folder():
    assert files("perfjam.assets") == assets_dir() == ROOT / "assets"  # the single home, no copies
    assert MODELS_DIR == ROOT / "assets" / "models"
    assert SHIPPED_SOUNDFONT.parent == ROOT / "assets" / "soundfonts"
    assert APP_ICON.is_file() and SHIPPED_SOUNDFONT.is_file()
    assert shipped_models() == ["perfjam-dynamics", "perfjam-nodynamics"]
    assert find_model("perfjam-dynamics") == MODELS_DIR / "perfjam-dynamics.onnx"
    assert not (ROOT / "perfjam" / "assets").exists()


def test_pyproject_packages_every_perfjam_package_and_the_assets():
    inits = (ROOT / "perfjam").rglob("__init__.py")
    on_disk = sorted(".".join(p.parent.relative_to(ROOT).parts) for p in inits)
    listed = PYPROJECT["tool"]["setuptools"]["packages"]
    assert sorted(listed) == sorted([*on_disk, "perfjam.assets"]), "add the new package to pyproject.toml"
    assert PYPROJECT["tool"]["setuptools"]["package-dir"] == {"perfjam.assets": "assets"}


def test_every_licence_file_exists_and_names_its_licence():
    texts = {name: (ROOT / name).read_text() for name in PYPROJECT["project"]["license-files"]}
    assert "Apache License" in texts["LICENSE"] and "Version 2.0" in texts["LICENSE"]
    models = texts["assets/models/LICENSE.md"]
    assert "perfjam-dynamics.onnx" in models and "Section 8 – Interpretation" in models  # the full text
    assert "NonCommercial-ShareAlike 4.0" in models
    assert "perfjam-piano.sf2" in texts["assets/soundfonts/LICENSE.md"]
    assert "Apache" in texts["assets/soundfonts/LICENSE.md"]
    assert PYPROJECT["project"]["license"] == "Apache-2.0 AND CC-BY-NC-SA-4.0"


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """The sdist and the wheel, built as a release is (``python -m build``: the wheel from the sdist)."""
    pytest.importorskip("build")
    out = tmp_path_factory.mktemp("dist")
    built = subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
                           capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    return out


@pytest.mark.slow
def test_the_wheel_holds_the_app_its_files_and_licences_and_no_training_package(dist):
    (wheel,) = dist.glob("perfjam-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert [f for f in SHIPPED if f"perfjam/assets/{f}" not in names] == []
    tops = {n.split("/")[0] for n in names if ".dist-info/" not in n}
    assert tops == {"perfjam"}, f"top-level names besides perfjam: {tops}"  # no 'training'
    info = f"perfjam-{__version__}.dist-info"
    assert {f"{info}/licenses/LICENSE", f"{info}/licenses/assets/models/LICENSE.md",
            f"{info}/licenses/assets/soundfonts/LICENSE.md"} <= set(names)
    metadata = email.message_from_bytes(zipfile.ZipFile(wheel).read(f"{info}/METADATA"))
    assert metadata["Version"] == __version__
    assert metadata["License-Expression"] == "Apache-2.0 AND CC-BY-NC-SA-4.0"
    assert "Topic :: Multimedia :: Sound/Audio :: MIDI" in metadata.get_all("Classifier")
    assert any("asap-dataset" in url for url in metadata.get_all("Project-URL"))
    assert metadata["Summary"] and "Two commands" in metadata.get_payload()  # the README
    assert wheel.stat().st_size < 8_000_000  # 4.8 MB: the two models and the SoundFont are most of it


@pytest.mark.slow
def test_the_sdist_holds_what_the_wheel_is_built_from_and_twine_accepts_both(dist):
    (sdist,) = dist.glob("perfjam-*.tar.gz")
    names = {n.split("/", 1)[1] for n in tarfile.open(sdist).getnames() if "/" in n}
    assert [f for f in SHIPPED if f"assets/{f}" not in names] == []
    assert {"LICENSE", "README.md", "pyproject.toml", "perfjam/cli.py"} <= names
    assert not any(n.startswith(("training/", "tests/")) for n in names)
    pytest.importorskip("twine")
    checked = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", *map(str, dist.iterdir())],
                             capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_version_names_perfjam_the_model_in_use_and_each_library(tmp_path):
    env = {**os.environ, "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / ".config")}
    out = subprocess.run([sys.executable, "-m", "perfjam", "--version"], capture_output=True, text=True,
                         env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith(f"PerfJam {__version__} (Python ")
    labels = [line.split(":", 1)[0] for line in lines[1:]]
    assert labels == ["model", "SoundFont", "onnxruntime", "FluidSynth", "MIDI", "Qt"]
    assert "cannot be loaded" not in out.stdout, out.stdout
    assert f"perfjam-dynamics (388 events, LSTM 2x512, int8): {MODELS_DIR}" in out.stdout
    fluid = lines[labels.index("FluidSynth") + 1]
    midi = lines[labels.index("MIDI") + 1]
    assert "pyfluidsynth" in fluid and any(c.isdigit() for c in fluid.split("(")[0])
    assert "python-rtmidi" in midi and "APIs" in midi and "uses auto" in midi
    assert out.stderr == ""


def test_version_follows_the_model_the_window_remembers(tmp_path):
    env = {**os.environ, "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / ".config")}
    code = "from perfjam.gui.settings import Settings; s = Settings(); s.model = 'perfjam-nodynamics'"
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)  # the window's store
    out = subprocess.run([sys.executable, "-m", "perfjam", "-V"], capture_output=True, text=True, env=env,
                         timeout=60)
    model = out.stdout.splitlines()[1]
    assert model.startswith("model: perfjam-nodynamics (356 events") and "the window's last" in model
