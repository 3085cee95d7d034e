-- Shared by the wrk scripts: print one machine-readable line when the run ends.
function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  -- Failed requests: non-2xx answers and requests that hit wrk's timeout.
  local non2xx = summary.errors.status + summary.errors.timeout
  io.write(string.format("RESULT rps=%.1f p50_ms=%.2f p99_ms=%.2f requests=%d non2xx=%d\n",
    summary.requests / secs, latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.requests, non2xx))
end
