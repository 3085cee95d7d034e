-- POST interactions (a logged call) on one customer: args = token, customer id
dofile(os.getenv("BENCH_DIR") .. "/common.lua")
function init(args) token = args[1]; customer = args[2]; n = 0 end
function request()
  n = n + 1
  return wrk.format("POST", "/api/v1/customers/" .. customer .. "/interactions",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token},
    string.format('{"type":"call","direction":"outbound","subject":"Bench call %d",' ..
      '"body":"Asked about the renewal; will send a quotation.","outcome":"successful",' ..
      '"duration_seconds":180}', n))
end
