import { expect, test } from "bun:test";
import { demoAutoscale, readEmulatorLimits } from "../../../scripts/lib/demo-autoscale.ts";
import { validateConfig } from "../../../server/shared/config/validate.ts";

const configWith = (lines: string[]) =>
  validateConfig(
    Bun.YAML.parse(
      [
        "name: demo",
        "roles: { production: { count: 2 } }",
        ...lines,
        "gitops: { repo: /tmp/inventory }",
      ].join("\n"),
    ),
  );

test("droplets with their own CPU: the autoscaler on, with thresholds a demo's load reaches", () => {
  const { config, note } = demoAutoscale({ limited: true });
  const checked = configWith(config);
  if (!checked.ok) throw new Error(checked.errors.join("\n"));
  expect(checked.config.autoscale).toMatchObject({
    enabled: true,
    metric: "proxy_cpu",
    up_above: 40,
    down_below: 15,
    for: 10_000,
    cooldown: 20_000,
    min: 2,
    max: 3,
  });
  // a hot proxy or canary under bun run load is the autoscaler's, not an alert that cuts the canary off
  expect(checked.config.monitor.roles.proxy?.for).toBe(120_000);
  expect(checked.config.monitor.roles.staging?.for).toBe(120_000);
  expect(note).toContain("autoscaler on");
  expect(note).toContain("bun run load 60s");
});

test("droplets that see the whole machine: the autoscaler off, and why", () => {
  const { config, note } = demoAutoscale({ limited: false, why: "no /dev/fuse (FUSE)" });
  const checked = configWith(config);
  if (!checked.ok) throw new Error(checked.errors.join("\n"));
  expect(checked.config.autoscale.enabled).toBe(false);
  expect(note).toBe(
    "autoscaler off: the emulator cannot give droplets their own CPU here (no /dev/fuse (FUSE)), so any load on this machine would look like load on every droplet; bun run scale works",
  );
});

test("the emulator's limits.json: what it says, and unlimited when it says nothing readable", () => {
  expect(readEmulatorLimits('{"limited":true}')).toEqual({ limited: true });
  expect(readEmulatorLimits('{"limited":false,"why":"no lxcfs"}')).toEqual({
    limited: false,
    why: "no lxcfs",
  });
  expect(readEmulatorLimits(undefined)).toEqual({
    limited: false,
    why: "the emulator did not say",
  });
  expect(readEmulatorLimits("{")).toEqual({ limited: false, why: "its limits.json is not JSON" });
});
