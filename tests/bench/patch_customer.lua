-- PATCH customers taken in turn (merge patch of one field, no If-Match): args = token, ids...
dofile(os.getenv("BENCH_DIR") .. "/common.lua")
function init(args)
  token = args[1]; ids = {}
  for k = 2, #args do ids[#ids + 1] = args[k] end
  i = math.random(#ids); n = 0
end
function request()
  i = i % #ids + 1; n = n + 1
  return wrk.format("PATCH", "/api/v1/customers/" .. ids[i],
    {["Content-Type"] = "application/merge-patch+json", ["Authorization"] = "Bearer " .. token},
    string.format('{"job_title":"Buyer %d"}', n))
end
