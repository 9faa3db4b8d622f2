--! keys: approval
-- An approval's change ticket opened (bot/store/tickets.py): its `ticket` field set (JSON {system, key, url}), which
-- its card shows, unless the approval is gone (expired: nothing to show it on). A: ticket.
-- Returns 1 when noted, else 0.
if redis.call('EXISTS', K.approval) == 0 then return 0 end
redis.call('HSET', K.approval, 'ticket', A.ticket)
return 1
