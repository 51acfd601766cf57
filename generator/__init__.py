"""pith-mirror: build a verified static mirror of Pith records."""

__version__ = "0.1.0"
GENERATOR = f"pith-mirror/{__version__}"
