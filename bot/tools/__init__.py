"""Function calling: built-in tools, MCP servers as tool sources, and the bounded tool loop."""
