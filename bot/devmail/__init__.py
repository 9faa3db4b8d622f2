"""The local mail catcher (issue 88): a stand-in for a company's mail server in dev mode and tests, as bot/devslack/
stands in for Slack. It imports nothing of the product: the worker reaches it only through SMTP_URL.

    catcher.py    an aiosmtpd server on a free loopback port (its own thread) keeping each person's inbox in
                  memory, with a small JSON view of it (`view`: for the dev page's Mail pane), and a switch that
                  makes it refuse every mail for now (a server that is up and says "try again later")
"""
