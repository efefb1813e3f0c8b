-- Argo CD health check for route53.failover.io/FailoverRecord, driven by the Ready condition.
--   stale status (observedGeneration < generation) -> Progressing
--   Ready=True                                     -> Healthy
--   Ready=False, reason InvalidSpec, Conflict, ZoneNotFound, Route53Error or NotAllowed -> Degraded (needs a person)
--   Ready=False for any other reason (Propagating: waiting for INSYNC), Ready=Unknown, no status -> Progressing
local hs = {}
local terminal = { InvalidSpec = true, Conflict = true, ZoneNotFound = true, Route53Error = true, NotAllowed = true }

if obj.status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report status"
  return hs
end

local generation = obj.metadata.generation
local observed = obj.status.observedGeneration
if generation ~= nil and observed ~= nil and observed < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. generation
  return hs
end

local ready = nil
if obj.status.conditions ~= nil then
  for _, condition in ipairs(obj.status.conditions) do
    if condition.type == "Ready" then
      ready = condition
    end
  end
end

if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the Ready condition"
  return hs
end

hs.message = ready.message or ""
if ready.status == "True" then
  hs.status = "Healthy"
elseif ready.status == "False" and terminal[ready.reason] then
  hs.status = "Degraded"
else
  hs.status = "Progressing"
end
return hs
