"""Signed decide links and the page they open (issue 88, shared since issue 90): a surface that sends a person a
link to decide one approval (e-mail, push) makes it here, single use and bound to that person and approval, and
mounts the page that checks it (a GET shows, a POST decides through the core's one entry). Never a surface itself.

    signed.py     the links: made, checked (a GET), taken once (a POST), given back; HMAC under a key derived from
                  SECRETS_KEY with each surface's own label; each refusal its own word (404, 410, 403)
    page.py       the link's page (aiohttp) at `/<surface>/{approval}/{token}`: GET and HEAD show, a POST with its
                  CSRF token takes the link once and decides through the `decide` it is given
    deciding.py   that `decide` for a surface's links: the core's one door, a step-up's link, a refusal in words
    sends.py      what a link surface sends of an approval and when: its kinds (opened, reminded, escalated), the
                  ones published, whether one is due a try, how long its record is kept

It imports the layers below the surfaces (bot.core, bot.store) and the core (bot.approvals), never a surface's
package."""
