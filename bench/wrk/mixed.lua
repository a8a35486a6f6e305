-- Mixed load: single predictions for 50 vehicles, fleet reads, histories, small batches.
local single = '{"vehicle_id": "VEH%d", "discharge_time_s": 3245.8, "voltage_drop_time_s": 1820.3, "delta_T_C": 16.2, "avg_current": -1.98, "avg_voltage": 3.73, "current_std": 0.05, "voltage_std": 0.3, "mean_max_temp": 33.1, "dod": 78.5, "voltage_V_mean": 3.73, "current_A_mean": -1.98, "temperature_C_mean": 30.8, "temperature_C_max": 35.4}'
local counter = 0
math.randomseed(os.time())

function request()
  counter = counter + 1
  local pick = counter % 10
  local headers = {["Content-Type"] = "application/json"}
  if pick < 6 then
    return wrk.format("POST", "/predict", headers, string.format(single, math.random(1, 50)))
  elseif pick < 8 then
    return wrk.format("GET", "/vehicles", headers)
  elseif pick < 9 then
    return wrk.format("GET", "/vehicles/VEH" .. math.random(1, 50) .. "/history?limit=50", headers)
  else
    local rows = {}
    for i = 1, 20 do rows[i] = string.format(single, math.random(1, 50)) end
    return wrk.format("POST", "/predict", headers, "[" .. table.concat(rows, ",") .. "]")
  end
end

-- Count 5xx separately from 4xx (a history of a vehicle not seen yet is a legitimate 404).
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

server_errors = 0
client_errors = 0
function response(status, headers, body)
  if status >= 500 then
    server_errors = server_errors + 1
  elseif status >= 400 then
    client_errors = client_errors + 1
  end
end

function done(summary, latency, requests)
  local five, four = 0, 0
  for _, thread in ipairs(threads) do
    five = five + thread:get("server_errors")
    four = four + thread:get("client_errors")
  end
  io.write(string.format("5xx responses: %d\n4xx responses: %d\n", five, four))
end
