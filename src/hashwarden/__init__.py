"""hashwarden: a database of hashes of known abuse material, and the tools to scan seized media against it.

The system stores, copies and exports hashes and metadata only, never imagery.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
