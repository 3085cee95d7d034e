-- GET paths taken in turn from a file, one per line: args = token, file
dofile(os.getenv("BENCH_DIR") .. "/common.lua")
function init(args)
  token = args[1]; paths = {}
  for line in io.lines(args[2]) do paths[#paths + 1] = line end
  i = math.random(#paths)
end
function request()
  i = i % #paths + 1
  return wrk.format("GET", paths[i], {["Authorization"] = "Bearer " .. token})
end
