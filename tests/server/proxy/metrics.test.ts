import { expect, test } from "bun:test";
import { Metrics } from "../../../server/proxy/metrics.ts";

test("metrics render as Prometheus text with cumulative histograms", () => {
  const metrics = new Metrics();
  metrics.record("production", "a:1", 200, 0.003);
  metrics.record("production", "a:1", 200, 0.02);
  metrics.record("production", "a:1", 502, 20);
  metrics.record("staging", "s:1", 500, 0.001);
  const text = metrics.render({
    canaryWeight: 30,
    canaryBlocked: true,
    alerts: 1,
    stale: false,
    backends: [{ track: "production", backend: "a:1", healthy: true, inFlight: 2 }],
  });
  expect(text).toContain(
    'dropship_proxy_requests_total{track="production",backend="a:1",status="200"} 2',
  );
  expect(text).toContain('dropship_proxy_errors_total{track="production",backend="a:1"} 1');
  expect(text).toContain(
    'dropship_proxy_request_duration_seconds_bucket{track="production",backend="a:1",le="0.005"} 1',
  );
  expect(text).toContain(
    'dropship_proxy_request_duration_seconds_bucket{track="production",backend="a:1",le="0.025"} 2',
  );
  expect(text).toContain(
    'dropship_proxy_request_duration_seconds_bucket{track="production",backend="a:1",le="10"} 2',
  );
  expect(text).toContain(
    'dropship_proxy_request_duration_seconds_bucket{track="production",backend="a:1",le="+Inf"} 3',
  );
  expect(text).toContain("dropship_canary_weight 30");
  expect(text).toContain("dropship_canary_blocked 1");
  expect(text).toContain('dropship_backend_in_flight{track="production",backend="a:1"} 2');
  expect(metrics.totals()).toEqual({
    production: { requests: 3, errors: 1 },
    staging: { requests: 1, errors: 1 },
  });
  for (const line of text.trim().split("\n"))
    expect(line).toMatch(/^(# (HELP|TYPE) \w+ .+|\w+(\{[^}]*\})? [\d.e+-]+)$/);
});
