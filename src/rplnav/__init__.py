"""RPL Navigator: cited decision support for recurrent pregnancy loss."""

__version__ = "0.1.0"
