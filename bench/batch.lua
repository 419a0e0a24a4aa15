-- wrk script: POST 100 seed-shaped events per request to /api/batch, as one JSON array.
local events = {}
for i = 1, 100 do
  events[i] = string.format('{"trafficType":"user","name":"button_click","key":"user-%d","value":%d,"properties":{"timestamp":"2025-10-24T10:30:15.123Z","counter":%d,"userAgent":"wrk","page":"/"}}', i, i, i)
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = "[" .. table.concat(events, ",") .. "]"
