-- POST new business customers, each with a billing and a shipping address and two contacts in
-- the one call (issue 12): args = token, run tag, phone block (0..4)
dofile(os.getenv("BENCH_DIR") .. "/common.lua")
local thread_no = 0
function setup(thread) thread_no = thread_no + 1; thread:set("tno", thread_no) end
function init(args) token = args[1]; tag = args[2]; block = tonumber(args[3]); n = 0 end
function request()
  n = n + 1
  local body = string.format(
    '{"name":"PT Bench %s %d","customer_type":"business","company":"PT Bench %s %d",' ..
    '"email":"b2b-%s-%d-%d@bench.example","mobile_phone":"+6282%01d%08d",' ..
    '"addresses":[{"type":"billing","line1":"Jl. Sudirman %d","city":"Jakarta Selatan",' ..
    '"region":"DKI Jakarta","postal_code":"12190","latitude":-6.2146,"longitude":106.8451},' ..
    '{"type":"shipping","line1":"Jl. Cakung %d","city":"Jakarta Utara","postal_code":"14130",' ..
    '"latitude":-6.1591,"longitude":106.9230}],' ..
    '"contacts":[{"name":"Sari %d","email":"sari-%s-%d-%d@bench.example",' ..
    '"roles":["purchasing","decision_maker"]},' ..
    '{"name":"Budi %d","email":"budi-%s-%d-%d@bench.example","roles":["billing"]}]}',
    tag, n, tag, n, tag, tno, n, block * 2 + tno, n, n, n, n, tag, tno, n, n, tag, tno, n)
  return wrk.format("POST", "/api/v1/customers",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body)
end
