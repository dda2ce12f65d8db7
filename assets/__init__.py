"""PerfJam's data files: the shipped models and their card (``models/``), PerfJam's own piano
SoundFont (``soundfonts/``) and the app's icon (``icons/``).

This folder is installed as the package ``perfjam.assets`` (``pyproject.toml`` maps it), so the
app finds its files through ``importlib.resources`` the same way in a checkout (an editable
install) and in a wheel: see ``perfjam/package_data.py``. The files live only here.
"""
