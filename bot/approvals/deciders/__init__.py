"""The deciders: the links of the decision chain (bot/approvals/chain.py), one module each, each holding what it
reads and writes; bot/root.py lists them, in order, and the chain walks them for every way in.

    freeze.py      first: a frozen scope (`/agent freeze`) refuses every new ask in it at once
    policies.py    the policies (bot/policy/: the one evaluation, the shipped default policy too): deny or allow at
                   once, or an ask routed to a person
    mode.py        the input mode: a run's gate's verdict, or the channel's mode on a program's ask
    rules.py       a live "always allow" rule approves a tool call (its use counted in the open step)
    person.py      the end: the approval opened, pending with its card (a person decides) or decided at once

A new decider is a class with `async def decide(self, step) -> Step | Decided` (`chain.Decider`) in a module here,
and one line in bot/root.py's list.

May import what bot.approvals may."""
