"""h11dbg: see, step through and teach HTTP/1.1."""

__version__ = "0.1.0"
