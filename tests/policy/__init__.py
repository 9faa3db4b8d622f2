"""Policy as code (bot/policy/): Cedar bundles deciding, routing and budgeting asks, against real workers."""
