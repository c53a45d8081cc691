import { expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { MONITOR_DEFAULTS, monitorSettings } from "../../../server/monitor/settings.ts";
import { validateConfig } from "../../../server/shared/config/validate.ts";
import { tempDir } from "../../helpers/tmp.ts";

test("the monitor's written-out defaults are the schema's", () => {
  const result = validateConfig({});
  if (!result.ok) throw new Error(result.errors.join("\n"));
  expect(MONITOR_DEFAULTS.monitor).toEqual(result.config.monitor);
  expect(MONITOR_DEFAULTS.canary.after_alert).toBe(result.config.canary.after_alert);
});

test("the monitor finds its config the way every command does, and says which file it read", async () => {
  const dir = tempDir("dropship-monitor-settings-");
  const said: string[] = [];
  expect(await monitorSettings((line) => said.push(line), {}, dir)).toBe(MONITOR_DEFAULTS);
  writeFileSync(join(dir, "dropship.yml"), "name: shop\nmonitor:\n  cpu: 80\n");
  const found = await monitorSettings((line) => said.push(line), {}, dir);
  expect(found.monitor.cpu).toBe(80);
  expect(said).toEqual([
    `config: none (no dropship.yml in ${dir} and DROPSHIP_CONFIG unset): the defaults`,
    `config: ${join(dir, "dropship.yml")}`,
  ]);
});
