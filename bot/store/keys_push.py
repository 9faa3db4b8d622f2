"""The push surface's Redis keys (issue 90; bot/store/keys.py is at its size limit), under the same prefix
(`Keys.prefix`: a tenant's keys are its own). Every key expires; nothing is renamed elsewhere.

{p}:push:subs:<person>        hash    device id -> the device's subscription (JSON: SUBSCRIPTION_SECONDS after
                                      endpoint, p256dh, auth, added, agent):      its last change (a device
                                      where that person's pushes go (bot/push/)   subscribing again renews it)
{p}:push:link:<nonce>         hash    an Approve / Reject action's link: person,  the approval's deadline
                                      approval, expires, kid, taken (as e-mail's  (or 7 days) + LINK_GRACE
                                      links: lua/email_link_take.lua, _release)
{p}:push:sent:{<id>}          hash    "<person>|<kind>" -> the push's state (as   expires with the approval
                                      e-mail's: lua/email_send_claim.lua, _done)
{p}:push:due                  zset    approval ids whose pushes are due a sending members leave when sent
                                      (bot/store/surface_due.py)
"""

from __future__ import annotations

from bot.store.key_names import Family
from bot.store.keys_email import EmailKeys

SUBSCRIPTION_SECONDS = 180 * 86400  # a person's devices are forgotten this long after their last change


class PushKeys(EmailKeys):
    """The push surface's key names over one store's `Keys` (its table, as `Keys`': bot/store/key_names.py): its
    links and sends shaped as e-mail's (the same steps), under its own words."""

    subs = Family("push:subs")
    link = Family("push:link")
    sent = Family("push:sent", tagged=True)
