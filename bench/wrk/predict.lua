-- POST the reference design's sample request (single row) on every call.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"vehicle_id": "V001", "discharge_time_s": 3245.8, "voltage_drop_time_s": 1820.3, "delta_T_C": 16.2, "avg_current": -1.98, "avg_voltage": 3.73, "current_std": 0.05, "voltage_std": 0.42, "mean_max_temp": 33.1, "dod": 78.5, "voltage_V_mean": 3.73, "current_A_mean": -1.98, "temperature_C_mean": 30.8, "temperature_C_max": 35.4}'
if os.getenv("EVPM_TOKEN") then
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("EVPM_TOKEN")
end

-- Optional pacing: WRK_DELAY_MS between requests on each connection (fixed offered rate).
local pause = tonumber(os.getenv("WRK_DELAY_MS") or "0")
function delay()
  return pause
end

local errors = 0
function response(status, headers, body)
  if status >= 400 then errors = errors + 1 end
end
