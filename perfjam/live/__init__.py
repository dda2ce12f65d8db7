"""The live engine's parts (no Qt); ``perfjam.engine`` is their public face and
``perfjam.live.loop`` composes them on the engine thread (see docs/ARCHITECTURE.md)."""
