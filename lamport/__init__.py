"""lamport: a laboratory for Lamport logical clocks."""

__version__ = "0.1.0"
