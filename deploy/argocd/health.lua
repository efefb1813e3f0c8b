-- Argo CD health check for route53.failover.io/FailoverRecord, by kstatus' rules (what Flux reads):
--   no status, or observedGeneration is not generation          -> Progressing
--   Stalled=True (invalid spec, conflict, namespace policy, missing health check or hosted zone
--     past its grace period, access denied: needs a change)    -> Degraded
--   Reconciling=True (a change propagating, a write pending, a hosted zone missing within its
--     grace period, a transient error being retried)            -> Progressing
--   Ready=True                                                 -> Healthy
--   anything else (Ready=False or Unknown, no Ready)            -> Progressing
-- The first of Stalled=True and Reconciling=True decides, as in kstatus (the operator never sets both).
local hs = {}

if obj.status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report status"
  return hs
end

local generation = obj.metadata.generation
local observed = obj.status.observedGeneration
if generation ~= nil and observed ~= nil and observed ~= generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. generation
  return hs
end

local ready = nil
if obj.status.conditions ~= nil then
  for _, condition in ipairs(obj.status.conditions) do
    if condition.status == "True" and condition.type == "Stalled" then
      hs.status = "Degraded"
      hs.message = condition.message or ""
      return hs
    end
    if condition.status == "True" and condition.type == "Reconciling" then
      hs.status = "Progressing"
      hs.message = condition.message or ""
      return hs
    end
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
else
  hs.status = "Progressing"
end
return hs
