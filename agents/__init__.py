"""Faust agents and web views: thin wiring between ``streams`` and ``models``."""
