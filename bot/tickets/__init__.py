"""Change tickets (issue 91): a route (a channel's `ticket` setting) opens a change in Jira or ServiceNow as an
approval opens, links it on the card and closes it with the decision, who and when; a ticket system down delays
nothing in the decision and is retried as due work. The parts; the composition root subscribes the desk and drains its
due set with JIRA_URL or SERVICENOW_URL.

    systems.py    the ticket systems' APIs (aiohttp): Jira Cloud's REST v3 (basic auth, e-mail and API token; a
                  label carries the approval's id) and ServiceNow's Table API `change_request` (basic auth or OAuth;
                  `correlation_id` carries it): find, open, close; a refusal or no answer is `TicketFailed`
    desk.py       the tickets as a worker runs them: a listener on the core's events (an approval opened pending, a
                  decision) and the drain of their due set (`{p}:tickets:due`): opened once (an orphan found
                  first), linked on the card, closed with the decision, bounded retries, `hitl_tickets_total`

It imports the core's packages below it (bot.core, bot.store, bot.approvals' events), never a surface's."""
