--! keys: ...windows
--! uses: windows
-- The totals of policy windows, as the policies read them before the open step (which checks them again).
-- A: since, count (one per key: whether it counts calls rather than sums amounts).
local totals = {}
for i, key in ipairs(K.windows) do totals[i] = window_total(key, A.since[i], A.count[i]) end
return totals
