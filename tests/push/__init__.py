"""Web Push, the phone and desktop surface (issue 90): a device subscribed on its person's page, an ask pushed to it
through the local push service (bot/devpush/: VAPID checked, the payload decrypted), the actions' confirm page, the
subscriptions' checks, against a real worker, redis-server and the local Slack."""
