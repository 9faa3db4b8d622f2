"""Change tickets (issue 91): a change in Jira or ServiceNow per approval, against their local stand-ins
(tests/support/tickets.py), a real worker and a real redis-server."""
