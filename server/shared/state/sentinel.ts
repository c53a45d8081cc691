import type { SentinelTarget } from "./sentinel-url.ts";

/** A RESP reply as it reads: strings, numbers, nulls, lists, or an error reply. */
export type Reply = string | number | null | Reply[] | { error: string };

/** Parses one complete RESP2 reply from `text` at `at`; undefined while more bytes are needed. */
export function parseReply(text: string, at = 0): { reply: Reply; next: number } | undefined {
  const end = text.indexOf("\r\n", at);
  if (end < 0) return undefined;
  const kind = text[at];
  const line = text.slice(at + 1, end);
  const next = end + 2;
  if (kind === "+") return { reply: line, next };
  if (kind === "-") return { reply: { error: line }, next };
  if (kind === ":") return { reply: Number(line), next };
  if (kind === "$") {
    const length = Number(line);
    if (length < 0) return { reply: null, next };
    if (text.length < next + length + 2) return undefined;
    return { reply: text.slice(next, next + length), next: next + length + 2 };
  }
  if (kind === "*") {
    const count = Number(line);
    if (count < 0) return { reply: null, next };
    const items: Reply[] = [];
    let cursor = next;
    for (let i = 0; i < count; i++) {
      const item = parseReply(text, cursor);
      if (!item) return undefined;
      items.push(item.reply);
      cursor = item.next;
    }
    return { reply: items, next: cursor };
  }
  throw new Error(`not a RESP reply: ${JSON.stringify(text.slice(at, at + 20))}`);
}

const encode = (args: string[]) =>
  `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("")}`;

/**
 * Sends one command to one Sentinel (after AUTH when it has a password) and answers its reply,
 * within `timeoutMs`. Small enough to need no client: the monitor, setup and the healer ask
 * Sentinels a question now and then.
 */
export async function askSentinel(
  sentinel: { host: string; port: number },
  password: string,
  args: string[],
  timeoutMs = 1000,
): Promise<Reply> {
  const commands = [...(password ? [["AUTH", password]] : []), args];
  let buffer = "";
  const replies: Reply[] = [];
  const done = Promise.withResolvers<void>();
  // the whole question, connecting included, within timeoutMs: a Sentinel on a droplet that
  // is gone answers nothing at all, not even a refusal
  const timer = setTimeout(
    () => done.reject(new Error(`no answer within ${timeoutMs} ms`)),
    timeoutMs,
  );
  const connecting = Bun.connect({
    hostname: sentinel.host,
    port: sentinel.port,
    socket: {
      data(_s, data) {
        buffer += data.toString();
        for (;;) {
          const parsed = parseReply(buffer);
          if (!parsed) break;
          replies.push(parsed.reply);
          buffer = buffer.slice(parsed.next);
        }
        if (replies.length >= commands.length) done.resolve();
      },
      close: () => done.reject(new Error("the Sentinel closed the connection")),
      error: (_s, error) => done.reject(error),
    },
  });
  let socket: Awaited<typeof connecting> | undefined;
  try {
    socket = await Promise.race([connecting, done.promise.then(() => undefined)]);
    if (!socket) throw new Error("the Sentinel closed the connection");
    socket.write(commands.map(encode).join(""));
    await done.promise;
  } finally {
    clearTimeout(timer);
    socket?.end();
    // a connection that opens after we gave up is closed at once
    if (!socket) void connecting.then((late) => late.end()).catch(() => undefined);
  }
  for (const reply of replies)
    if (reply && typeof reply === "object" && "error" in reply) throw new Error(reply.error);
  return replies[replies.length - 1] as Reply;
}

/**
 * The primary the Sentinels name now: the first that answers is asked. Throws, naming every
 * Sentinel and what it said, when none knows.
 */
export async function findPrimary(target: SentinelTarget): Promise<{ host: string; port: number }> {
  const faults: string[] = [];
  for (const sentinel of target.sentinels) {
    try {
      const reply = await askSentinel(sentinel, target.sentinelPassword, [
        "SENTINEL",
        "GET-MASTER-ADDR-BY-NAME",
        target.name,
      ]);
      if (Array.isArray(reply) && typeof reply[0] === "string")
        return { host: reply[0], port: Number(reply[1]) };
      faults.push(`${sentinel.host}:${sentinel.port} does not know ${target.name}`);
    } catch (error) {
      faults.push(`${sentinel.host}:${sentinel.port}: ${(error as Error).message}`);
    }
  }
  throw new Error(`no Sentinel named the primary of ${target.name} (${faults.join("; ")})`);
}

/**
 * The primary as most Sentinels see it, and whether those Sentinels see it down or failing
 * over. A Sentinel that lost touch (reset just before the primary died: it learns of others
 * through the primary) keeps naming the old one; the majority outvotes it.
 */
export async function sentinelView(
  target: SentinelTarget,
): Promise<{ primary: string | undefined; failingOver: boolean }> {
  const views: { ip: string; flags: string }[] = [];
  for (const sentinel of target.sentinels) {
    const reply = await askSentinel(sentinel, target.sentinelPassword, [
      "SENTINEL",
      "MASTER",
      target.name,
    ]).catch(() => undefined);
    if (!Array.isArray(reply)) continue;
    const field = (name: string) => String(reply[reply.indexOf(name) + 1] ?? "");
    views.push({ ip: field("ip"), flags: field("flags") });
  }
  const counts = new Map<string, number>();
  for (const view of views) counts.set(view.ip, (counts.get(view.ip) ?? 0) + 1);
  const primary = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
  const failingOver = views.some(
    (view) => view.ip === primary && /failover|o_down|s_down/.test(view.flags),
  );
  return { primary, failingOver };
}

/** Whether this Sentinel sees the primary healthy: known, up, and no failover under way. */
async function primaryHealthy(
  sentinel: { host: string; port: number },
  target: SentinelTarget,
): Promise<boolean> {
  const reply = await askSentinel(sentinel, target.sentinelPassword, [
    "SENTINEL",
    "MASTER",
    target.name,
  ]).catch(() => undefined);
  if (!Array.isArray(reply)) return false;
  return reply[reply.indexOf("flags") + 1] === "master";
}

/**
 * Every Sentinel forgets the replicas and Sentinels it knew and finds the live ones again (so
 * a dead one stops counting toward the majority a failover needs), the way Redis's
 * documentation says to remove a Sentinel: one at a time, each having found the others again
 * before the next forgets (at most `spacingMs` apart), and only while the primary is healthy — a
 * Sentinel reset during a failover forgets the replica it would promote. Answers what did not
 * go as planned; a Sentinel that does not answer is skipped.
 */
export async function resetSentinels(
  target: SentinelTarget,
  options: { spacingMs: number; waitMs: number },
): Promise<string[]> {
  const faults: string[] = [];
  for (const sentinel of target.sentinels) {
    const deadline = Date.now() + options.waitMs;
    while (!(await primaryHealthy(sentinel, target)) && Date.now() < deadline)
      await Bun.sleep(1000);
    if (!(await primaryHealthy(sentinel, target))) {
      faults.push(`${sentinel.host}:${sentinel.port} does not see a healthy primary; not reset`);
      continue;
    }
    const before = await livePeers(sentinel, target);
    const reset = await askSentinel(sentinel, target.sentinelPassword, [
      "SENTINEL",
      "RESET",
      target.name,
    ]).catch((error) => {
      faults.push(`${sentinel.host}:${sentinel.port}: ${(error as Error).message}`);
      return undefined;
    });
    if (reset === undefined) continue;
    // the next forgets only once this one knows again every live Sentinel (hello messages, every
    // 2 s) and replica (the primary's INFO, every 10 s) it knew, or after spacingMs, Redis's
    // advice, at most; the last too, so that the Sentinels are whole when this returns
    const until = Date.now() + options.spacingMs;
    while (Date.now() < until) {
      const now = await livePeers(sentinel, target);
      if (now && before && now.sentinels >= before.sentinels && now.replicas >= before.replicas)
        break;
      await Bun.sleep(500);
    }
  }
  return faults;
}

/**
 * How many Sentinels and replicas this Sentinel knows and does not think down, and how many it
 * still lists as down (a dead one it has not been reset to forget).
 */
export async function livePeers(
  sentinel: { host: string; port: number },
  target: SentinelTarget,
): Promise<{ sentinels: number; replicas: number; down: number } | undefined> {
  const flagsOf = async (what: "SENTINELS" | "REPLICAS") => {
    const reply = await askSentinel(sentinel, target.sentinelPassword, [
      "SENTINEL",
      what,
      target.name,
    ]).catch(() => undefined);
    if (!Array.isArray(reply)) return undefined;
    return reply
      .filter((entry) => Array.isArray(entry))
      .map((entry) => String(entry[entry.indexOf("flags") + 1] ?? ""));
  };
  const [sentinels, replicas] = [await flagsOf("SENTINELS"), await flagsOf("REPLICAS")];
  if (!sentinels || !replicas) return undefined;
  const isDown = (flags: string) => /s_down|o_down|disconnected/.test(flags);
  const live = (all: string[]) => all.filter((flags) => !isDown(flags)).length;
  return {
    sentinels: live(sentinels),
    replicas: live(replicas),
    down: [...sentinels, ...replicas].filter(isDown).length,
  };
}
