"""What the local stand-ins share (bot/devmail, bot/devpush, bot/devoncall): nothing of the product, only the
standard library and aiohttp, so that each stand-in stays outside the product as before.

    standin.py    a free loopback port, an aiohttp app served from a thread of its own (`ThreadedApp`), and waiting
                  for what a stand-in receives (`arrived`: a poll with a deadline that never blocks the loop)"""
