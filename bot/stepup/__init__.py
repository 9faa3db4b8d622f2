"""Step-up: a person's passkey (WebAuthn) confirms what they do. Slice 1 is enrolment: each person registers
passkeys through a one-time link from their App Home, names them, removes their own; an admin revokes someone's.
The relying party is STEP_UP_URL's host (default PUBLIC_URL's; `bot.core.passkeys.relying_party`), and a vote's
challenge will be derived from what it decides (`bot.core.passkeys.challenge_for`).

    enrolment.py   `Enrolment`: one-time links, registration options, the browser's answer verified and stored,
                   removal and revocation, audited
    pages.py       the pages and endpoints on the worker's HTTP server (`/step-up/enrol/...`)

May import: `bot.core`, `bot.store` and the leaves of `bot.slack` (the directory: a person's name). The worker's
HTTP server (`bot/server.py`) mounts the pages; the App Home's listeners ask for links."""
