"""The root of Cairn's exception tree. Each domain subclasses it."""


class CairnError(Exception):
    """Base class of every error Cairn raises on purpose."""
