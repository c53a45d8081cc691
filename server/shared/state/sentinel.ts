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
 * Sentinel and what it said, when none knows. With `learn`, the target's list of Sentinels
 * becomes the one that answered, then the others it knows (see nextSentinels).
 */
export async function findPrimary(
  target: SentinelTarget,
  options: { learn?: boolean } = {},
): Promise<{ host: string; port: number }> {
  const faults: string[] = [];
  for (const sentinel of target.sentinels) {
    try {
      const reply = await askSentinel(sentinel, target.sentinelPassword, [
        "SENTINEL",
        "GET-MASTER-ADDR-BY-NAME",
        target.name,
      ]);
      if (Array.isArray(reply) && typeof reply[0] === "string") {
        if (options.learn) {
          const peers = await askSentinel(sentinel, target.sentinelPassword, [
            "SENTINEL",
            "SENTINELS",
            target.name,
          ]).catch(() => []);
          target.sentinels = nextSentinels(sentinel, peers, target.sentinels);
        }
        return { host: reply[0], port: Number(reply[1]) };
      }
      faults.push(`${sentinel.host}:${sentinel.port} does not know ${target.name}`);
    } catch (error) {
      faults.push(`${sentinel.host}:${sentinel.port}: ${(error as Error).message}`);
    }
  }
  throw new Error(`no Sentinel named the primary of ${target.name} (${faults.join("; ")})`);
}

type Sentinel = { host: string; port: number };

/**
 * Whom to ask next time, learned as ioredis learns them: the Sentinel that answered, then the
 * others it knows and does not hold down (SENTINEL SENTINELS), then the rest of those known
 * before. A long-running client started with a URL whose Sentinels have all been replaced since
 * would otherwise find none at its next failover.
 */
export function nextSentinels(answered: Sentinel, peers: Reply, known: Sentinel[]): Sentinel[] {
  const live = (Array.isArray(peers) ? peers : [])
    .filter((peer): peer is Reply[] => Array.isArray(peer))
    .map(fieldsOf)
    .filter((f) => f.ip && Number(f.port) > 0 && !/s_down|o_down|disconnected/.test(f.flags ?? ""))
    .map((f) => ({ host: f.ip as string, port: Number(f.port) }));
  const seen = new Set<string>();
  return [answered, ...live, ...known].filter((s) => {
    const key = `${s.host}:${s.port}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** What the Sentinels say of the primary, as the healer reads it. */
export interface SentinelView {
  /** the primary's address as most Sentinels name it */
  primary: string | undefined;
  /** whether those Sentinels see it down or are failing over */
  failingOver: boolean;
  /** how many Sentinels name that primary */
  agreeing: number;
  /**
   * Sentinels that answer but name another primary, or none: they lost touch (one reset just
   * before the primary died learns of nothing, since Sentinels find each other through it)
   */
  stale: Sentinel[];
  /** the majority's own settings for the primary (ip, port, quorum, timeouts), by field */
  settings: Record<string, string>;
}

/**
 * The primary as most Sentinels see it. A Sentinel that lost touch keeps naming the old one;
 * the majority outvotes it, and it is listed as stale.
 */
export async function sentinelView(target: SentinelTarget): Promise<SentinelView> {
  const views: { sentinel: Sentinel; fields: Record<string, string> | undefined }[] = [];
  for (const sentinel of target.sentinels) {
    const reply = await askSentinel(sentinel, target.sentinelPassword, [
      "SENTINEL",
      "MASTER",
      target.name,
    ]).catch(() => undefined);
    // no answer at all: down, not stale; an error answer: it does not know the primary
    if (reply === undefined) continue;
    views.push({ sentinel, fields: Array.isArray(reply) ? fieldsOf(reply) : undefined });
  }
  const keyOf = (fields: Record<string, string>) => `${fields.ip}:${fields.port}`;
  const counts = new Map<string, number>();
  for (const { fields } of views)
    if (fields) counts.set(keyOf(fields), (counts.get(keyOf(fields)) ?? 0) + 1);
  const [top, agreeing = 0] = [...counts.entries()].sort((a, b) => b[1] - a[1])[0] ?? [];
  const majority = views.filter((v) => v.fields && keyOf(v.fields) === top);
  return {
    primary: majority[0]?.fields?.ip,
    failingOver: majority.some((v) => /failover|o_down|s_down/.test(v.fields?.flags ?? "")),
    agreeing,
    stale: views.filter((v) => !v.fields || keyOf(v.fields) !== top).map((v) => v.sentinel),
    settings: majority[0]?.fields ?? {},
  };
}

/** A flat RESP map ([name, value, name, value, …]) as an object. */
function fieldsOf(reply: Reply[]): Record<string, string> {
  const fields: Record<string, string> = {};
  for (let i = 0; i + 1 < reply.length; i += 2) fields[String(reply[i])] = String(reply[i + 1]);
  return fields;
}

/**
 * Points a stale Sentinel at the primary the majority names, with the majority's settings and
 * the `sentinel` user's password: it forgets the old one (SENTINEL REMOVE) and monitors the
 * new one, then finds the replicas and other Sentinels through it. Answers what went wrong.
 */
export async function repointSentinel(
  sentinel: Sentinel,
  target: SentinelTarget,
  majority: Record<string, string>,
  authPass: string,
): Promise<string | undefined> {
  const { ip, port, quorum } = majority;
  if (!ip || !port || !quorum) return "the majority's view of the primary is incomplete";
  const ask = (args: string[]) =>
    askSentinel(sentinel, target.sentinelPassword, ["SENTINEL", ...args]).then(
      (reply) => (isError(reply) ? reply.error : undefined),
      (error: Error) => error.message,
    );
  // one that never knew the primary has nothing to remove: its error is no fault
  await ask(["REMOVE", target.name]);
  const fault =
    (await ask(["MONITOR", target.name, ip, port, quorum])) ??
    (await ask([
      "SET",
      target.name,
      "auth-user",
      "sentinel",
      "auth-pass",
      authPass,
      ...["down-after-milliseconds", "failover-timeout", "parallel-syncs"].flatMap((name) =>
        majority[name] ? [name, majority[name]] : [],
      ),
    ]));
  return fault && `${sentinel.host}:${sentinel.port}: ${fault}`;
}

/**
 * Gives every Sentinel that answers these timings for the primary (SENTINEL SET, which Sentinel
 * also writes to its file) where its own differ. Answers a line per change and per fault; a
 * Sentinel that does not answer is a fault, not an error (setup goes on).
 */
export async function alignSentinelTimings(
  target: SentinelTarget,
  timings: Readonly<Record<string, string>>,
): Promise<string[]> {
  const lines: string[] = [];
  for (const sentinel of target.sentinels) {
    const where = `${sentinel.host}:${sentinel.port}`;
    try {
      const reply = await askSentinel(sentinel, target.sentinelPassword, [
        "SENTINEL",
        "MASTER",
        target.name,
      ]);
      if (!Array.isArray(reply)) throw new Error("it does not know the primary");
      const now = fieldsOf(reply);
      const differ = Object.entries(timings).filter(([name, value]) => now[name] !== value);
      if (differ.length === 0) continue;
      await askSentinel(sentinel, target.sentinelPassword, [
        "SENTINEL",
        "SET",
        target.name,
        ...differ.flat(),
      ]);
      lines.push(
        `${where}: ${differ.map(([name, value]) => `${name} ${now[name]} → ${value}`).join(", ")}`,
      );
    } catch (error) {
      lines.push(`! ${where}: timings not checked: ${(error as Error).message}`);
    }
  }
  return lines;
}

const isError = (reply: Reply): reply is { error: string } =>
  typeof reply === "object" && reply !== null && !Array.isArray(reply);

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
