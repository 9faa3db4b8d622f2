"""Step-up: a person's passkey (WebAuthn) confirms what they do. Each person registers passkeys through a one-time
link from their App Home, names them, removes their own; an admin revokes someone's. An Approve of an approval that
needs step-up counts only once the approver's passkey confirmed that exact action on the bot's page, through a
one-time link their click answers. The relying party is STEP_UP_URL's host (default PUBLIC_URL's;
`bot.core.passkeys.relying_party`), and a vote's challenge is derived from what it decides
(`bot.core.passkeys.challenge_for`).

    enrolment.py   `Enrolment`: one-time links, registration options, the browser's answer verified and stored,
                   removal and revocation, audited
    votes.py       `Confirmation`: a step-up vote's one-time link, the action its page shows, the authentication
                   options and the assertion verified, then the Approve counted through the decide step
    pages.py       the pages and endpoints on the worker's HTTP server (`/step-up/enrol/...`, `/step-up/vote/...`)
    reveal.py      `Reveal`: a reviewer who may decide sees an approval's hidden values once, on the bot's page,
                   through a one-time link; audited
    reveal_page.py the page `/reveal/{token}`
    brief_page.py  a brief's page `/attest/{scope}` (fit to decide): read it, attest (any of our people signed in)
    details_page.py the page `/approvals/{id}`: an approval's details for who may decide it, its opening noted
    changes_page.py  the page `/approvals/{id}/diff`: an approval's whole change (unified, side by side), for who
                   may see the approval, signed in

Every page opens only after Sign in with Slack, for its link's person (`bot.signin`; a brief's, for any of our own
people; the change page, for whoever may see its approval). The pages are templates (bot/templates/stepup/,
bot/templates/reveal/, bot/templates/attest/, bot/templates/changes/, rendered by `bot.core.templates`: every text
escaped).

May import: `bot.core`, `bot.store`, the leaves of `bot.slack` (the directory: a person's name), `bot.policy` (a
window's amount) and `bot.approvals` (a vote goes through its decide step). The worker's HTTP server (`bot/server.py`)
mounts the pages; the App Home's and the cards' listeners ask for links."""
