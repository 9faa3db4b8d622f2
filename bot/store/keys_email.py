"""The e-mail surface's Redis keys (issue 88; bot/store/keys.py holds every other key and is at its size limit), under
the same prefix (`Keys.prefix`: a tenant's keys are its own). Every key expires; nothing is renamed elsewhere.

{p}:email:link:<nonce>        hash    a Review-and-decide link: person, approval,     the approval's deadline
                                      expires, kid (the key that signed it), taken   (or 7 days) + LINK_GRACE, so
                                      (1 while a POST decides with it: single use;   an expired link is told
                                      lua/email_link_take.lua, email_link_release.lua) apart from a forged one
{p}:email:sent:{<id>}         hash    "<person>|<kind>" -> the mail's state: sending: expires with the approval
                                      <until>:<attempts>, retry:<at>:<attempts>,
                                      sent:<message id>, failed:<attempts>
                                      (lua/email_send_claim.lua, email_send_done.lua)
"""

from __future__ import annotations

from bot.store.key_names import Family
from bot.store.keys import Keys

LINK_GRACE = 7 * 86400  # a link's record outlives its expiry this long: "expired" (410), not "unknown" (404)


class EmailKeys:
    """The e-mail surface's key names over one store's `Keys` (its table, as `Keys`': bot/store/key_names.py)."""

    def __init__(self, keys: Keys) -> None:
        self.prefix, self.root = keys.prefix, keys.root

    link = Family("email:link")
    sent = Family("email:sent", tagged=True)
