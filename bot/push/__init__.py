"""Web Push, the phone and desktop surface (issue 90): the bot's pages an installable web app, each signed-in
person's devices (push subscriptions), and an approval that asks them pushed to each device with Approve / Reject
actions that open the bot's confirm page (a signed, single-use link bound to the person and the approval; only the
page's POST decides, through the core's one entry, `surface: push`). The composition root subscribes the surface and
drains its due set with VAPID_PRIVATE_KEY.

    links.py      the actions' links: bot/links/signed.py under push's own key label and path (`/push/...`)
    payload.py    what a push says: the card's words (title, agent, the change's summary), the two actions; no
                  argument text, no hidden value
    sender.py     pywebpush (RFC 8030, RFC 8291 aes128gcm, VAPID) to each device, once per approval, person and
                  kind across workers, bounded retries, a device gone (404, 410) forgotten,
                  `hitl_push_sent_total{outcome}`
    pinned.py     each push's connection pinned to a checked address: an aiohttp resolver answering only a host's
                  global addresses, resolved once per connection (no DNS rebinding between the check and the send)
    devices.py    a posted PushSubscription checked (the endpoint https and on the internet, or the local push
                  service; the keys' sizes and curve): a 400 that changes nothing otherwise
    pages.py      the web app (manifest, service worker, icon), the devices page and its JSON posts, the actions'
                  confirm page (bot/links/page.py) deciding through `decisions.decide(person, "push", ...)`
    surface.py    the surface as a worker runs it: a listener on the core's events (an approval opened pending, a
                  reminder, an escalation), the drain of its due set (`{p}:push:due`) and `reach` (push people now)

It imports the core's packages below it (bot.core, bot.store, bot.people, bot.approvals), the pages' sign-in
(bot.signin) and the shared links (bot.links), never another surface's."""
