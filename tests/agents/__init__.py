"""Tests of agents/agent_approvals: the client, schemas, each framework integration, the MCP gateway, packaging."""
