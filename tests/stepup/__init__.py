"""Step-up (bot/stepup/): passkey enrolment through the worker's pages and the App Home, against a real worker, the
Slack stand-in and redis-server."""
