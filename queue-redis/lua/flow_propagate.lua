-- KEYS: see flow_lib.lua.  ARGV[1]: budget of edges to follow
-- Passes on ended steps. Returns 1 while ends are left to pass on.
if propagate(tonumber(ARGV[1])) then return 1 end
return 0
