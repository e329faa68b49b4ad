"""The one error hierarchy of convcalc.

Inner code raises with the fact; the public API adds context (layer, option, value) as the
error rises; ``cli.py`` turns it into one line on stderr and exit status 2.
"""

from __future__ import annotations


class ConvcalcError(ValueError):
    """Anything wrong with what the user asked for."""

    def __init__(self, message: str, *, option: str | None = None, layer: str | None = None):
        super().__init__(message)
        self.message = message
        self.option = option
        self.layer = layer

    def with_context(self, *, option: str | None = None, layer: str | None = None) -> "ConvcalcError":
        """A copy of this error that also names the option and the layer (kept if already set)."""
        err = type(self)(self.message, option=self.option or option, layer=self.layer or layer)
        return err

    def __str__(self) -> str:
        parts = []
        if self.layer:
            parts.append(self.layer)
        if self.option:
            parts.append(self.option)
        parts.append(self.message)
        return ": ".join(parts)


class ExpressionError(ConvcalcError):
    """A malformed size expression or shape."""


class ConfigError(ConvcalcError):
    """A layer configuration PyTorch would refuse (stride 0, groups not dividing, ...)."""


class ShapeError(ConvcalcError):
    """An input shape a layer cannot take (wrong rank, channel mismatch, kernel too large)."""


def unknown_name(name: str, known: list, *, what: str, option: str, listed_by: str = "") -> ConfigError:
    """The error for a name a table (devices, conventions) lacks: the names close to it (did you
    mean), or else every known one."""
    import difflib

    close = difflib.get_close_matches(name.strip().lower(), list(known), n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}?" if close else f"known: {', '.join(known)}"
    return ConfigError(f"no {what} named {name!r}; {hint}" + (f" ({listed_by})" if listed_by else ""), option=option)
