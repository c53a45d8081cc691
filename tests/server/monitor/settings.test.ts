import { expect, test } from "bun:test";
import { MONITOR_DEFAULTS } from "../../../server/monitor/settings.ts";
import { validateConfig } from "../../../server/shared/config/validate.ts";

test("the monitor's written-out defaults are the schema's", () => {
  const result = validateConfig({});
  if (!result.ok) throw new Error(result.errors.join("\n"));
  expect(MONITOR_DEFAULTS.monitor).toEqual(result.config.monitor);
  expect(MONITOR_DEFAULTS.canary.after_alert).toBe(result.config.canary.after_alert);
});
