"""Tests of agents/typescript, the npm package `agent-approvals`: its API types against the bot's OpenAPI document,
the shared receipt vectors, and its own tests (`node --test`) against a real worker."""
