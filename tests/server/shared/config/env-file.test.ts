import { expect, test } from "bun:test";
import { mkdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  fleetEnvFile,
  loadLocalSettings,
  mergeMissing,
  parseEnvFile,
  writeFleetEnv,
} from "../../../../server/shared/config/env-file.ts";
import { tempDir } from "../../../helpers/tmp.ts";

test(".env lines are read as a shell would leave them: quotes off, comments and junk skipped", () => {
  expect(
    parseEnvFile(
      "# a comment\nREDIS_URL=redis://:p@10.0.0.2:6379/0\nexport TOKEN='abc def'\nNAME=\"x\"\n\nnot a line\n",
    ),
  ).toEqual({ REDIS_URL: "redis://:p@10.0.0.2:6379/0", TOKEN: "abc def", NAME: "x" });
});

test("a file never overrides what the environment already says", () => {
  const env: Record<string, string | undefined> = { REDIS_URL: "redis://mine", EMPTY: "" };
  expect(mergeMissing(env, { REDIS_URL: "redis://file", EMPTY: "filled", NEW: "1" })).toEqual([
    "EMPTY",
    "NEW",
  ]);
  expect(env).toEqual({ REDIS_URL: "redis://mine", EMPTY: "filled", NEW: "1" });
});

test("setup's fleet.env is mode 0600 beside the config, and read by every command", () => {
  const dir = tempDir("dropship-fleetenv-");
  const elsewhere = join(dir, "deploy");
  mkdirSync(elsewhere);
  writeFileSync(join(elsewhere, "dropship.yml"), "name: shop\n");
  writeFileSync(join(elsewhere, ".env"), "DROPSHIP_ADMIN_TOKEN=from-the-env-beside\n");
  const located = { DROPSHIP_CONFIG: join(elsewhere, "dropship.yml") };
  const file = fleetEnvFile(located, dir);
  expect(file).toBe(join(elsewhere, ".dropship/fleet.env"));
  writeFleetEnv(file, {
    REDIS_URL: "redis://:secret@10.0.0.2:6379/0",
    PROXY_URL: "http://10.0.0.3",
  });
  expect(statSync(file).mode & 0o777).toBe(0o600);

  const env: Record<string, string | undefined> = { ...located, PROXY_URL: "http://mine" };
  loadLocalSettings(env, dir);
  expect(env.REDIS_URL).toBe("redis://:secret@10.0.0.2:6379/0");
  expect(env.PROXY_URL).toBe("http://mine");
  expect(env.DROPSHIP_ADMIN_TOKEN).toBe("from-the-env-beside");
});
