"""The PySide6 window of PerfJam (the only package that imports Qt).

PySide6-Essentials is kept below 6.12: 6.12.0 returns ``None`` from void C++ methods without
taking a reference, and Python 3.11 aborts ("none_dealloc: deallocating None") after a few
thousand calls such as ``widget.update()`` (see pyproject.toml).
"""
