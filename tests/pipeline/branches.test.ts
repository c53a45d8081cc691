import { expect, test } from "bun:test";
import { deployingBranches, roleOfRef, testCommandOf } from "../../pipeline/branches.ts";
import { validateConfig } from "../../server/shared/config/validate.ts";

const defaults = (() => {
  const result = validateConfig({ pipeline: { test: { master: "bun run test:unit" } } });
  if (!result.ok) throw new Error(result.errors.join("\n"));
  return result.config;
})();

test("by default master and main deploy production, staging the canary, anything else is stored", () => {
  const { branches } = defaults.pipeline;
  expect(roleOfRef(branches, "refs/heads/master")).toBe("production");
  expect(roleOfRef(branches, "refs/heads/main")).toBe("production");
  expect(roleOfRef(branches, "refs/heads/staging")).toBe("staging");
  expect(roleOfRef(branches, "refs/heads/feature/x")).toBeUndefined();
  expect(roleOfRef(branches, "refs/tags/main")).toBeUndefined();
  expect(deployingBranches(branches)).toBe("master, main and staging");
});

test("the branches are the config's, and a role's test command gates every branch of it", () => {
  const result = validateConfig({
    pipeline: { branches: { production: ["trunk"], staging: ["canary", "next"] } },
  });
  if (!result.ok) throw new Error(result.errors.join("\n"));
  const { branches } = result.config.pipeline;
  expect(roleOfRef(branches, "refs/heads/master")).toBeUndefined();
  expect(roleOfRef(branches, "refs/heads/trunk")).toBe("production");
  expect(roleOfRef(branches, "refs/heads/next")).toBe("staging");
  expect(testCommandOf(defaults, "production")).toBe("bun run test:unit");
  expect(testCommandOf(defaults, "staging")).toBe("bun test");
});

test("a branch in both lists, or not a branch name, is refused with the fix", () => {
  const both = validateConfig({ pipeline: { branches: { staging: ["main"] } } });
  expect(both.ok ? [] : both.errors).toEqual([
    "pipeline/branches/staging: main is also in pipeline/branches/production — a branch deploys to one role",
  ]);
  const bad = validateConfig({ pipeline: { branches: { production: ["no spaces"] } } });
  expect(bad.ok ? [] : bad.errors).toEqual([
    'pipeline/branches/production/0: "no spaces" is not valid — a branch name like main or release/2.1',
  ]);
});
