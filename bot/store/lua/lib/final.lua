-- A run's final statuses: once it has one, nothing changes it.
local final = {completed=1, rejected=1, timed_out=1, failed=1, cancelled=1}
