-- GET one path: args = token, path
dofile(os.getenv("BENCH_DIR") .. "/common.lua")
function init(args) token = args[1]; path = args[2] end
function request() return wrk.format("GET", path, {["Authorization"] = "Bearer " .. token}) end
