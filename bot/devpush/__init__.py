"""The local push service (issue 90), a stand-in for the push services browsers use (Google's, Mozilla's, Apple's)
in `python -m bot dev` and the tests: nothing of the product.

    service.py    hands out subscriptions (an endpoint and the keys of a device it makes), receives Web Push posts
                  (RFC 8030), checks each one's VAPID JWT (RFC 8292) and decrypts it with the device's private keys
                  (RFC 8291, `http_ece`), keeps it for the Phone pane; a device can be made gone (410)"""
