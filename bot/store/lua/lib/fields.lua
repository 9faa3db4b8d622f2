-- A table of named string fields as HSET / XADD arguments: {k1, v1, k2, v2, ...}.
local function flat(fields)
  local out = {}
  for k, v in pairs(fields) do out[#out + 1] = k; out[#out + 1] = v end
  return out
end
