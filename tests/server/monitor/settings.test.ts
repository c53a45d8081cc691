import { expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  MONITOR_DEFAULTS,
  monitorSettings,
  monitorSettingsOf,
  settingsFromJson,
} from "../../../server/monitor/settings.ts";
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

test("settings handed over by the control host are used as they are, and say so", async () => {
  const result = validateConfig({ monitor: { cpu: 70, roles: { redis: { memory: 80 } } } });
  if (!result.ok) throw new Error(result.errors.join("\n"));
  const handed = JSON.stringify(monitorSettingsOf(result.config));
  const said: string[] = [];
  const settings = await monitorSettings((line) => said.push(line), {
    DROPSHIP_MONITOR_SETTINGS: handed,
    DROPSHIP_CONFIG: "/nonexistent.yml",
  });
  expect(settings.monitor.cpu).toBe(70);
  expect(settings.monitor.roles.redis?.memory).toBe(80);
  expect(said).toEqual([
    "config: the deployment's, from the control host (DROPSHIP_MONITOR_SETTINGS)",
  ]);
});

test("handed-over settings that are not JSON or lack a field say so and what to do", () => {
  expect(() => settingsFromJson("{nope")).toThrow(
    "DROPSHIP_MONITOR_SETTINGS is not JSON — run the playbooks again from the control host",
  );
  expect(() =>
    settingsFromJson(JSON.stringify({ monitor: { cpu: 50 }, canary: { after_alert: "resume" } })),
  ).toThrow("DROPSHIP_MONITOR_SETTINGS lacks monitor.interval, monitor.memory");
});

test("settings from a control host older than the disk alert get its default threshold", () => {
  const { disk: _, ...older } = MONITOR_DEFAULTS.monitor;
  const settings = settingsFromJson(JSON.stringify({ ...MONITOR_DEFAULTS, monitor: older }));
  expect(settings.monitor.disk).toBe(90);
  expect(settings.monitor.cpu).toBe(50);
});
