"""openmlink: a self-hostable implementation of the MLink platform."""

__version__ = "0.1.0"

__all__ = ["__version__"]
