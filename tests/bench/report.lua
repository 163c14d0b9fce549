-- wrk script of the benches (benchlib.REPORT_LUA): no change to the requests; at the
-- end, one JSON line with the figures bench.py needs (latencies in microseconds). wrk
-- counts non-2xx/3xx answers in summary.errors.status, which bench.py treats as a
-- failed run.
done = function(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      '{"requests":%d,"duration_us":%d,"bytes":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
      '"max_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\n',
      summary.requests, summary.duration, summary.bytes,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
      e.connect, e.read, e.write, e.status, e.timeout))
end
