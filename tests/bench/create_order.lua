-- POST completed orders with unique refs, spread over customers: args = token, run tag, ids...
dofile(os.getenv("BENCH_DIR") .. "/common.lua")
local thread_no = 0
function setup(thread) thread_no = thread_no + 1; thread:set("tno", thread_no) end
function init(args)
  token = args[1]; tag = args[2]; ids = {}
  for i = 3, #args do ids[#ids + 1] = args[i] end
  n = 0
end
function request()
  n = n + 1
  local id = ids[(n * 7 + tno) % #ids + 1]
  local body = string.format(
    '{"order_ref":"%s-%d-%d","lines":[{"sku":"SKU-%d","quantity":"2","unit_price":"37500"},{"sku":"SKU-%d","quantity":"1","unit_price":"120000"}]}',
    tag, tno, n, n % 50, (n + 7) % 50)
  return wrk.format("POST", "/api/v1/customers/" .. id .. "/orders",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body)
end
