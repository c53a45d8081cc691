import { expect, test } from "bun:test";
import {
  appDataPlan,
  BACKUP_RETRY_MS,
  backupMail,
  compareSets,
  describeBackups,
  flagSteps,
  freshSetName,
  isSetName,
  keepFault,
  nextBackupAt,
  parseManifest,
  setName,
  setsToPrune,
} from "../../pipeline/backup.ts";

const flag = (name: string, enabled: boolean, rollout = 100, version = 1) =>
  JSON.stringify({ name, enabled, rollout, version, updatedAt: "x", updatedBy: "y" });

test("a set is named by its UTC second; two in one second get -2, -3", () => {
  const at = new Date("2026-12-05T12:00:07.123Z");
  expect(setName(at)).toBe("2026-12-05T12-00-07Z");
  expect(isSetName("2026-12-05T12-00-07Z")).toBe(true);
  expect(isSetName("2026-12-05T12-00-07Z-3")).toBe(true);
  for (const other of ["latest", "2026-12-05T12:00:07Z", "../2026-12-05T12-00-07Z", ""])
    expect(isSetName(other)).toBe(false);
  expect(freshSetName(at, new Set())).toBe("2026-12-05T12-00-07Z");
  expect(freshSetName(at, new Set(["2026-12-05T12-00-07Z"]))).toBe("2026-12-05T12-00-07Z-2");
  expect(freshSetName(at, new Set(["2026-12-05T12-00-07Z", "2026-12-05T12-00-07Z-2"]))).toBe(
    "2026-12-05T12-00-07Z-3",
  );
});

test("the newest sets are kept, in time order even past -9 in one second", () => {
  const sets = [
    "2026-12-05T12-00-07Z-10",
    "2026-12-04T12-00-00Z",
    "2026-12-05T12-00-07Z",
    "2026-12-05T12-00-07Z-2",
  ];
  expect([...sets].sort(compareSets)).toEqual([
    "2026-12-04T12-00-00Z",
    "2026-12-05T12-00-07Z",
    "2026-12-05T12-00-07Z-2",
    "2026-12-05T12-00-07Z-10",
  ]);
  expect(setsToPrune(sets, 2)).toEqual(["2026-12-05T12-00-07Z", "2026-12-04T12-00-00Z"]);
  expect(setsToPrune(sets, 14)).toEqual([]);
});

test("--keep takes a whole number of sets from 1 to 1000", () => {
  expect(keepFault("1")).toBeUndefined();
  expect(keepFault("1000")).toBeUndefined();
  for (const bad of ["0", "-1", "2.5", "ten", "", "1001"])
    expect(keepFault(bad)).toBe(`--keep ${bad} is not a number of sets from 1 to 1000`);
});

test("a manifest is read whole or said to be wrong", () => {
  const digest = { bytes: 10, sha256: "a".repeat(64) };
  const good = {
    format: 1 as const,
    name: "2026-12-05T12-00-07Z",
    createdAt: "2026-12-05T12:00:08.000Z",
    by: "ann",
    dropship: "0.1.0",
    redis: { from: "10.0.0.2:6379", keys: 3, ...digest },
  };
  expect(parseManifest(JSON.stringify(good))).toEqual(good);
  expect(parseManifest(JSON.stringify({ ...good, inventory: { head: "b", ...digest } }))).toEqual({
    ...good,
    inventory: { head: "b", ...digest },
  });
  expect(parseManifest("{")).toBe("it is not JSON");
  expect(parseManifest("null")).toBe("it is not a format 1 manifest");
  expect(parseManifest(JSON.stringify({ ...good, format: 2 }))).toBe(
    "it is not a format 1 manifest",
  );
  expect(parseManifest(JSON.stringify({ ...good, redis: { ...digest, sha256: "xyz" } }))).toBe(
    "its redis entry has no size and sha256",
  );
  const repos = [{ name: "shop-api", ...digest }];
  expect(parseManifest(JSON.stringify({ ...good, repos }))).toEqual({ ...good, repos });
  for (const bad of [[{ name: "../app", ...digest }], [{ name: "app" }], [{ name: "" }]])
    expect(parseManifest(JSON.stringify({ ...good, repos: bad }))).toBe(
      "its repos entry names a repository that is not a repository's name, or one without size and sha256",
    );
  const files = [{ name: "app.env" as const, ...digest }];
  expect(parseManifest(JSON.stringify({ ...good, files }))).toEqual({ ...good, files });
  for (const bad of [[{ name: "../.env", ...digest }], [{ name: "users" }], {}])
    expect(parseManifest(JSON.stringify({ ...good, files: bad }))).toBe(
      "its files entry names a file a set does not hold, or one without size and sha256",
    );
  expect(parseManifest(JSON.stringify({ ...good, inventory: { head: "b" } }))).toBe(
    "its inventory entry has no size and sha256",
  );
});

test("flags: those that differ or are missing are set as they were, those made since removed", () => {
  const snapshot = {
    same: flag("same", true, 100, 3),
    changed: flag("changed", true, 20),
    gone: flag("gone", false),
    broken: "not json",
  };
  const fleet = {
    same: flag("same", true, 100, 9), // only its version and stamp differ: left alone
    changed: flag("changed", true, 50),
    made: flag("made", true),
  };
  expect(flagSteps(snapshot, fleet)).toEqual([
    {
      name: "changed",
      to: { enabled: true, rollout: 20 },
      from: { enabled: true, rollout: 50 },
    },
    { name: "gone", to: { enabled: false, rollout: 100 }, from: undefined },
    { name: "made", from: { enabled: true, rollout: 100 } },
  ]);
  expect(flagSteps(snapshot, snapshot)).toEqual([]);
});

test("app data: every key of the set written, those made since removed", () => {
  expect(appDataPlan(["app:b", "app:a"], ["app:a", "app:c", "app:d"])).toEqual({
    write: ["app:a", "app:b"],
    remove: ["app:c", "app:d"],
  });
  expect(appDataPlan([], ["app:a"])).toEqual({ write: [], remove: ["app:a"] });
});

test("the next scheduled backup: at once with none, every after the newest, sooner after a failure", () => {
  const hour = 3_600_000;
  const day = 24 * hour;
  expect(nextBackupAt({ every: day, startedAt: 5 })).toBe(5);
  expect(nextBackupAt({ lastSet: 1000, every: day, startedAt: 5 })).toBe(1000 + day);
  // a failure since the newest set: tried again within the retry time, or every if shorter
  expect(nextBackupAt({ lastSet: 1000, lastFailure: 2000, every: day, startedAt: 5 })).toBe(
    2000 + BACKUP_RETRY_MS,
  );
  expect(nextBackupAt({ lastFailure: 2000, every: day, startedAt: 5 })).toBe(
    2000 + BACKUP_RETRY_MS,
  );
  expect(nextBackupAt({ lastSet: 1000, lastFailure: 2000, every: 60_000, startedAt: 5 })).toBe(
    62_000,
  );
  // a set taken after the failure (by hand) moves the schedule on from itself
  expect(nextBackupAt({ lastSet: 3000, lastFailure: 2000, every: day, startedAt: 5 })).toBe(
    3000 + day,
  );
});

test("one mail when backups start failing, one when they work again, none in between", () => {
  const failed = { ok: false as const, error: "cannot reach Redis" };
  const took = { ok: true as const, name: "2026-12-05T03-00-00Z" };
  const first = backupMail(false, failed, "shop");
  expect(first.failing).toBe(true);
  expect(first.mail?.subject).toBe("[shop] backups are failing");
  expect(first.mail?.text).toContain("failed: cannot reach Redis");
  expect(backupMail(true, failed, "shop")).toEqual({ failing: true });
  const back = backupMail(true, took, "shop");
  expect(back).toEqual({
    failing: false,
    mail: {
      subject: "[shop] backups work again",
      text: "The receiver's scheduled backup took 2026-12-05T03-00-00Z.\n",
    },
  });
  expect(backupMail(false, took, "shop")).toEqual({ failing: false });
});

test("the status line: the newest set and its age, none, or late for the receiver's schedule", () => {
  const now = Date.parse("2026-12-05T12:00:00.000Z");
  const dir = "/srv/shop/.dropship/backups";
  const day = 24 * 3_600_000;
  expect(describeBackups({ count: 0, dir, now })).toBe(`none in ${dir} — bun run backup takes one`);
  expect(describeBackups({ count: 0, dir, now, every: day })).toBe(
    `none in ${dir} — bun run backup takes one (the receiver's schedule has taken none yet)`,
  );
  expect(describeBackups({ newest: now - 20 * 60_000, count: 3, dir, now, every: day })).toBe(
    `newest 2026-12-05T11:40:00.000Z (20 min ago), 3 kept in ${dir}`,
  );
  expect(describeBackups({ newest: now - 30 * 3_600_000, count: 3, dir, now })).toBe(
    `newest 2026-12-04T06:00:00.000Z (30 h ago), 3 kept in ${dir}`,
  );
  expect(describeBackups({ newest: now - 3 * day, count: 14, dir, now, every: day })).toBe(
    `newest 2026-12-02T12:00:00.000Z (3 days ago), 14 kept in ${dir} — late for the receiver's schedule: see its log`,
  );
});
