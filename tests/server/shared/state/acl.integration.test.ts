import { expect, test } from "bun:test";
import { nativeRedis } from "../../../../server/monitor/redis.ts";
import { FlagClient } from "../../../../server/shared/flags/client.ts";
import {
  aclFile,
  aclRules,
  aclSetUser,
  monitorUser,
  redisUrls,
  redisUsers,
} from "../../../../server/shared/state/acl.ts";
import { changeFlag } from "../../../../server/shared/state/flags.ts";
import {
  beingReplaced,
  listHosts,
  markReplacing,
  reportHost,
  unmarkReplacing,
} from "../../../../server/shared/state/hosts.ts";
import { KEYS, MAINTENANCE_FIELD } from "../../../../server/shared/state/keys.ts";
import { changeMaintenance, readMaintenance } from "../../../../server/shared/state/maintenance.ts";
import {
  connectRedis,
  type RedisClient,
  whenReady,
} from "../../../../server/shared/state/redis.ts";
import { changeCanary, putBackend, raiseAlert } from "../../../../server/shared/state/routing.ts";
import {
  putCertificate,
  putChallenge,
  readCertificates,
  readChallenge,
  TLS_KEYS,
} from "../../../../server/shared/state/tls.ts";
import { connectTo, startRedis } from "../../../helpers/redis.ts";

// A real redis-server started with the ACL file setup gives the Redis host.
const HOSTS = [
  { name: "web-1", role: "production" as const },
  { name: "web-2", role: "production" as const },
  { name: "canary-1", role: "staging" as const },
];
const redis = await startRedis({ acl: (password) => aclFile(password, HOSTS) });
const control = await connectTo(redis);
const urls = redisUrls(redis.url, HOSTS);
const clients: RedisClient[] = [];
const as = async (user: string) => {
  const client = connectRedis(urls[user] as string, {
    purpose: user,
    persistent: false,
    log: () => {},
  });
  clients.push(client);
  await whenReady(client, urls[user] as string, 3000);
  return client;
};
const refused = (work: Promise<unknown>) => expect(work).rejects.toThrow(/NOPERM|no permissions/);
const report = (host: string) => ({
  host,
  role: "production",
  cpu: 10,
  memory: 20,
  at: Date.now(),
  release: "abc",
});

test("every user of the fleet exists with a password of its own; default and wrong ones do not get in", async () => {
  expect(redisUsers(HOSTS)).toEqual([
    "control",
    "proxy",
    "app-production",
    "app-staging",
    "replica",
    "sentinel",
    "monitor-web-1",
    "monitor-web-2",
    "monitor-canary-1",
  ]);
  expect((await control.call("ACL", "USERS")) as string[]).toEqual(
    expect.arrayContaining(["default", ...redisUsers(HOSTS)]),
  );
  // every client's URL has a password of its own; replication and Sentinel get no URL
  const passwords = new Set(Object.values(urls).map((url) => new URL(url).password));
  expect(passwords.size).toBe(redisUsers(HOSTS).length - 2);
  expect(Object.keys(urls)).not.toContain("replica");
  expect(aclFile(redis.password, HOSTS)).not.toContain(new URL(urls.proxy as string).password);
  const anonymous = connectRedis(redis.url.replace("control:", ":"), {
    purpose: "default",
    persistent: false,
    log: () => {},
  });
  await expect(anonymous.ping()).rejects.toThrow();
  anonymous.disconnect();
  const wrong = new URL(urls["app-staging"] as string);
  wrong.password = "guessed";
  const guessed = connectRedis(wrong.toString(), {
    purpose: "x",
    persistent: false,
    log: () => {},
  });
  await expect(guessed.ping()).rejects.toThrow();
  guessed.disconnect();
});

test("the staging app reads flags and keeps its own data, and cannot touch routing, flags or the audit", async () => {
  await changeFlag(control, "disableSET", { enabled: true, rollout: 100 }, "test", "create");
  const staging = await as("app-staging");
  expect(Object.keys(await staging.hgetall(KEYS.flags))).toEqual(["disableSET"]);
  expect(await staging.set(KEYS.appMessage("x"), "hello")).toBe("OK");
  const backend = {
    id: "evil:1",
    url: "http://evil:1",
    track: "production" as const,
    draining: false,
  };
  await refused(staging.hset(KEYS.backends, "evil:1", JSON.stringify(backend)));
  await refused(putBackend(staging, backend, "staging"));
  await refused(staging.xadd(KEYS.audit, "*", "kind", "forged"));
  await refused(changeFlag(staging, "disableSET", { enabled: false, rollout: 100 }, "x", "update"));
  await refused(changeCanary(staging, { weight: 100 }, "staging"));
  await refused(staging.publish(KEYS.events, JSON.stringify({ hash: KEYS.backends })));
  await refused(staging.call("FLUSHALL"));
  await refused(staging.call("CONFIG", "GET", "requirepass"));
  expect(await control.hexists(KEYS.backends, "evil:1")).toBe(0);
});

test("the app's own client works under its user: flags mirrored and changes heard", async () => {
  const flags = new FlagClient({ redisUrl: urls["app-staging"] as string, startWaitMs: 2000 });
  await flags.start();
  try {
    await changeFlag(control, "beta", { enabled: true, rollout: 100 }, "test", "create");
    const start = Date.now();
    while (!flags.isEnabled("beta") && Date.now() - start < 2000) await Bun.sleep(10);
    expect(flags.isEnabled("beta")).toBe(true);
    expect(flags.status().stale).toBe(false);
  } finally {
    flags.stop();
  }
});

test("a monitor writes its own host's figures and alerts, and no other host's", async () => {
  const monitor = nativeRedis(urls[monitorUser({ name: "web-1" })] as string);
  try {
    await reportHost(monitor, report("web-1"));
    await refused(reportHost(monitor, report("web-2")));
    await raiseAlert(
      monitor,
      {
        id: "cpu:web-1",
        source: "web-1",
        role: "production",
        summary: "CPU",
        since: "now",
        canary: false,
      },
      "monitor",
    );
    await refused(changeFlag(monitor, "beta", { enabled: false, rollout: 100 }, "m", "update"));
    expect((await listHosts(monitor)).map((h) => h.host)).toEqual(["web-1"]);
    // the heal's marks it reads (a marked host's silence is not raised), and marks none
    await markReplacing(control, "web-2", "gone from the cloud API");
    expect(await beingReplaced(monitor, ["web-2", "web-3"])).toEqual(
      new Map([["web-2", "gone from the cloud API"]]),
    );
    await refused(
      monitor.eval(
        "redis.call('SET', KEYS[1], 'x')",
        1,
        KEYS.replacing("web-3"),
      ) as Promise<unknown>,
    );
    await unmarkReplacing(control, "web-2");
  } finally {
    monitor.close();
  }
  const other = await as("monitor-web-2");
  await reportHost(other, report("web-2"));
  expect((await listHosts(control)).map((h) => h.host).sort()).toEqual(["web-1", "web-2"]);
});

test("every user may ask INFO, which ioredis's ready check needs", async () => {
  for (const user of ["proxy", "app-production", "app-staging", "monitor-web-1"])
    expect(await (await as(user)).info("server")).toContain("redis_version");
});

test("the proxy changes flags and the canary, and cannot change the routing table or maintenance", async () => {
  const proxy = await as("proxy");
  await changeFlag(proxy, "beta", { enabled: false, rollout: 100 }, "ann", "update");
  await changeCanary(proxy, { weight: 10 }, "ann");
  await refused(
    putBackend(proxy, { id: "x:1", url: "http://x:1", track: "staging", draining: false }, "p"),
  );
  await refused(proxy.xadd(KEYS.deploys, "*", "result", "forged"));
  // maintenance: the control host turns it on, the proxy reads it and cannot turn it off
  await changeMaintenance(control, { on: true, message: "back soon" }, "ann");
  expect((await readMaintenance(proxy))?.on).toBe(true);
  await refused(changeMaintenance(proxy, { on: false, message: "" }, "p"));
  await refused((await as("app-production")).hget(KEYS.maintenance, MAINTENANCE_FIELD));
  await changeMaintenance(control, { on: false, message: "" }, "ann");
});

test("certificates and keys: the proxy reads them and changes none; no other role reads them", async () => {
  await putCertificate(control, "shop.test", {
    cert: "CERT",
    key: "KEY",
    notAfter: "2099-01-01T00:00:00.000Z",
    issuedAt: "2026-11-30T00:00:00.000Z",
    issuer: "test",
  });
  await putChallenge(control, "tok", "tok.answer", 60_000);
  await control.set(TLS_KEYS.account, "ACCOUNT KEY");
  const proxy = await as("proxy");
  expect((await readCertificates(proxy)).get("shop.test")?.key).toBe("KEY");
  expect(await readChallenge(proxy, "tok")).toBe("tok.answer");
  await refused(proxy.get(TLS_KEYS.account));
  await refused(
    putCertificate(proxy, "shop.test", {
      cert: "x",
      key: "y",
      notAfter: "",
      issuedAt: "",
      issuer: "",
    }),
  );
  await refused(putChallenge(proxy, "tok", "forged", 1000));
  for (const user of ["app-production", "app-staging", "monitor-web-1"]) {
    const other = await as(user);
    await refused(readCertificates(other));
    await refused(readChallenge(other, "tok"));
  }
});

test("a host added later gets its monitor user with ACL SETUSER; the rules are the file's", async () => {
  const master = redis.password;
  await control.call("ACL", "SETUSER", ...aclSetUser(master, "monitor-web-3"));
  const url = redisUrls(redis.url, [{ name: "web-3", role: "production" }])["monitor-web-3"];
  const web3 = connectRedis(url as string, { purpose: "web-3", persistent: false, log: () => {} });
  clients.push(web3);
  await whenReady(web3, url as string, 3000);
  await reportHost(web3, report("web-3"));
  await refused(reportHost(web3, report("web-1")));
  expect(aclRules("monitor-web-3")).toContain(`%RW~${KEYS.host("web-3")}`);
  for (const client of clients) client.disconnect();
});

test("the default user is off to every connection: no command without a user, and no password makes it usable", async () => {
  const answers = await new Promise<string>((resolve, reject) => {
    let got = "";
    Bun.connect({
      hostname: "127.0.0.1",
      port: redis.port,
      socket: {
        open(socket) {
          socket.write(
            'GET x\r\nAUTH default ""\r\nAUTH default x\r\nHELLO 3 AUTH default ""\r\nAUTH ""\r\nKEYS *\r\n',
          );
        },
        data(socket, data) {
          got += data.toString();
          if (got.split("\r\n").length > 6) {
            socket.end();
            resolve(got);
          }
        },
        error: (_socket, error) => reject(error),
      },
    }).catch(reject);
  });
  const lines = answers.trim().split("\r\n");
  expect(lines[0]).toStartWith("-NOAUTH");
  for (const line of lines.slice(1, 5)) expect(line).toMatch(/^-(WRONGPASS|ERR AUTH)/);
  expect(lines[5]).toStartWith("-NOAUTH");
});

// last in the file: it restarts the server
test("what scripts and transactions wrote is all there after Redis restarts from its append-only file", async () => {
  await changeFlag(control, "checkout.v2", { enabled: true, rollout: 40 }, "test", "create");
  await changeCanary(control, { weight: 15 }, "test");
  await putBackend(
    control,
    { id: "10.0.0.9:3000", url: "http://10.0.0.9:3000", track: "production", draining: false },
    "test",
  );
  const app = await as("app-production");
  await app.multi().set("app:message:restart", "kept").lpush("app:recent", "restart").exec();
  const before = {
    flags: await control.hgetall(KEYS.flags),
    canary: await control.hgetall(KEYS.canary),
    backends: await control.hgetall(KEYS.backends),
    audit: await control.xlen(KEYS.audit),
    message: await control.get("app:message:restart"),
  };
  expect(before.audit).toBeGreaterThan(3);
  await redis.stop();
  await redis.start();
  const again = await connectTo(redis);
  expect({
    flags: await again.hgetall(KEYS.flags),
    canary: await again.hgetall(KEYS.canary),
    backends: await again.hgetall(KEYS.backends),
    audit: await again.xlen(KEYS.audit),
    message: await again.get("app:message:restart"),
  }).toEqual(before);
});
