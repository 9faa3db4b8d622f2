"""What the test packages share: harnesses (worker processes, the API, dev mode, a browser, MCP) and stand-ins."""
