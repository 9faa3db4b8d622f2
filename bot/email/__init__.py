"""E-mail, the third surface (issue 88): an approval sent as an HTML and plain-text e-mail with a Review-and-decide
link, signed, single use and bound to its person and approval, and the page the link opens (a GET shows, only a POST
decides). The parts; the composition root subscribes the surface and drains its due set with SMTP_URL.

    messages.py   the e-mail of an approval (jinja2, autoescaped; bot/templates/email/): the card's words, hidden
                  values as their masks, the Review-and-decide link
    links.py      the links (bot/links/signed.py under e-mail's key label and path): made, checked (a GET), taken
                  once (a POST), given back; HMAC under a key derived from SECRETS_KEY; each refusal its own word
    sender.py     aiosmtplib to SMTP_URL (STARTTLS or TLS by its scheme), a bounded retry schedule, sent once per
                  approval, person and kind across workers, `hitl_email_sent_total{outcome}`
    page.py       the link's page (bot/links/page.py at /email/...): GET and HEAD show the change and never
                  decide, a POST with its CSRF token takes the link once and decides through the `decide` it is given
    pages.py      the page mounted (the root's HTTP server, with SMTP_URL): who is signed in, the approval as stored,
                  `decisions.decide(person, "email", ...)`, step-up sent to the passkey's page, refusals audited;
                  the sign-in's e-mail-only people (`email_person_of`, `ours`)
    surface.py    the surface as a worker runs it: a listener on the core's events (an approval opened pending, a
                  reminder, an escalation) and the drain of its due set (`{p}:email:due`), sending through sender.py

It imports the core's packages below it (bot.core, bot.store, bot.people, bot.approvals) and the pages' sign-in
(bot.signin) and the shared links (bot.links), never another surface's (bot.slack, bot.slackapp, bot.msteams)."""
