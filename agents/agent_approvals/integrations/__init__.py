"""One module (or package) per agent framework, each behind its extra; each imports the core
(`agent_approvals.approver`, `client`, `modes`, `state`, ...), never another integration.

    autogen/            AutoGen (extra `autogen`): `run_with_approvals`, the user proxy's input function,
                        `require_approval` for tools, code approval, an approval-gated workbench
    openai_agents.py    the OpenAI Agents SDK (extra `openai-agents`): `run_with_approvals`, `resume`
    langgraph.py        LangGraph (extra `langgraph`): `tool_call` to interrupt with, `invoke_with_approvals`,
                        `resume_with_approvals`
    pydantic_ai.py      Pydantic AI (extra `pydantic-ai`): `run_with_approvals`
    agent_framework.py  Microsoft Agent Framework (extra `agent-framework`): `run_with_approvals`
    claude_agent_sdk.py the Claude Agent SDK (extra `claude-agent-sdk`): `can_use_tool` for `ClaudeAgentOptions`,
                        or `pre_tool_use_hook`
    google_adk.py       Google's Agent Development Kit (extra `google-adk`): `approval_gate` (a
                        `before_tool_callback` asking for the tools named), `run_with_approvals`
    agui.py             AG-UI 1.0 (extra `agui`): a run's tool-call interrupts asked in Slack, resumed with the
                        decision, edited arguments and a signed receipt (`run_with_approvals`, `resume_entries`)

`agent_approvals.<framework>` (the name the interface gives each) is the same module under its old name.
"""
