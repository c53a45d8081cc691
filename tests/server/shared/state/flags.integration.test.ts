import { expect, test } from "bun:test";
import { readAudit } from "../../../../server/shared/state/audit.ts";
import { changeFlag, listFlags, UnknownFlagError } from "../../../../server/shared/state/flags.ts";
import { KEYS } from "../../../../server/shared/state/keys.ts";
import { connectTo, startRedis } from "../../../helpers/redis.ts";

const server = await startRedis();
const redis = await connectTo(server);
const subscriber = await connectTo(server);

test("a change is stored, versioned, published and audited with who, when, old and new", async () => {
  const messages: string[] = [];
  subscriber.on("message", (_c: string, m: string) => messages.push(m));
  await subscriber.subscribe(KEYS.events);

  const first = await changeFlag(
    redis,
    "disableSET",
    { enabled: true, rollout: 100 },
    "ann@laptop",
    "create",
  );
  expect(first.old).toBeUndefined();
  expect(first.now).toMatchObject({
    name: "disableSET",
    enabled: true,
    rollout: 100,
    updatedBy: "ann@laptop",
  });

  const second = await changeFlag(
    redis,
    "disableSET",
    { enabled: false, rollout: 100 },
    "bob@ci",
    "update",
  );
  expect(second.old?.enabled).toBe(true);
  expect(second.now.version).toBeGreaterThan(first.now.version);

  await Bun.sleep(50);
  expect(messages.map((m) => JSON.parse(m).version)).toEqual([
    first.now.version,
    second.now.version,
  ]);

  const audit = await readAudit(redis, { kind: "flag", target: "disableSET", limit: 10 });
  expect(audit).toHaveLength(2);
  expect(audit[0]?.actor).toBe("bob@ci");
  expect(JSON.parse(audit[0]?.old ?? "").enabled).toBe(true);
  expect(JSON.parse(audit[0]?.new ?? "").enabled).toBe(false);
  expect(audit[1]?.old).toBe("");
  expect(Date.parse(audit[0]?.at ?? "")).toBeGreaterThan(Date.now() - 10_000);
});

test("updating a flag that does not exist changes nothing", async () => {
  const before = await redis.xlen(KEYS.audit);
  await expect(
    changeFlag(redis, "nosuchflag", { enabled: true, rollout: 100 }, "ann", "update"),
  ).rejects.toBeInstanceOf(UnknownFlagError);
  expect(await redis.xlen(KEYS.audit)).toBe(before);
  expect((await listFlags(redis)).map((f) => f.name)).not.toContain("nosuchflag");
});

test("the audit can be read for one flag or all, newest first", async () => {
  await changeFlag(redis, "beta", { enabled: true, rollout: 10 }, "ann", "create");
  await changeFlag(redis, "beta", { enabled: true, rollout: 20 }, "ann", "update");
  const beta = await readAudit(redis, { kind: "flag", target: "beta", limit: 10 });
  expect(beta.map((e) => JSON.parse(e.new).rollout)).toEqual([20, 10]);
  const all = await readAudit(redis, { kind: "flag", limit: 3 });
  expect(all.map((e) => e.target)).toEqual(["beta", "beta", "disableSET"]);
});
