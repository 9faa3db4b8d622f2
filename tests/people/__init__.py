"""Who is who across surfaces (issue 88): bot/people/ and the person values of bot/core/people.py, tested for real
with a worker's parts, redis-server and the Slack stand-in."""
