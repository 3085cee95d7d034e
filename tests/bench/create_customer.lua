-- POST new customers with unique e-mails and phones: args = token, run tag, phone block (0..4),
-- optional phone prefix (default 6281), optional first number (default 0; a run over a kept
-- data set passes a run-specific offset so its phones do not collide with earlier runs')
dofile(os.getenv("BENCH_DIR") .. "/common.lua")
local thread_no = 0
function setup(thread) thread_no = thread_no + 1; thread:set("tno", thread_no) end
function init(args) token = args[1]; tag = args[2]; block = tonumber(args[3]); prefix = args[4] or "6281"; n = tonumber(args[5] or "0") end
function request()
  n = n + 1
  local body = string.format(
    '{"name":"Bench %s %d","email":"%s-%d-%d@bench.example","mobile_phone":"+%s%01d%08d","tags":["bench"]}',
    tag, n, tag, tno, n, prefix, block * 2 + tno, n)
  return wrk.format("POST", "/api/v1/customers",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body)
end
