"""The audit stream into a SIEM (AUDIT_SIEM_URL, issue 91): every audit entry delivered, in order and at least once,
as an OCSF 1.5 event to Splunk's HTTP Event Collector, to syslog over TLS, or to a file of JSON lines for a
collector; a cursor in Redis (bot/store/siem.py) so that a restart neither loses nor floods.

    ocsf.py      pure: an audit entry as an OCSF 1.5 API Activity event (its stream id the event's unique id)
    syslog.py    pure: an event as an RFC 5424 message, octet-counted (RFC 5425, RFC 6587)
    sinks.py     where the events go: the HEC, syslog over TLS, a file; each says whether the batch was accepted
    streamer.py  the streamer: one worker at a time (a lease) sends the next batch after the cursor and moves it
                 once the receiver accepted; backs off while the receiver fails

May import: `bot.core`, `bot.store` and `bot.audit`.
"""
