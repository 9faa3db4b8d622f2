"""The tamper-evident audit log (#38.4): the chain written by the Lua steps, its signed checkpoints, and
`python -m bot audit verify` against a real Redis altered with real Redis commands."""
