"""enrich-mcp: an MCP server for lead enrichment across B2B data vendors."""

__version__ = "0.1.0"

__all__ = ["__version__"]
