"""E-mail, the third surface (issue 88): its links, its mail sent through the local mail catcher (bot/devmail/), the
sender's retries and its once-only record, the link's page, against a real redis-server and real SMTP."""
