import { expect, test } from "bun:test";
import { nextSentinels } from "../../../../server/shared/state/sentinel.ts";

/** One Sentinel as SENTINEL SENTINELS lists it: a flat list of names and values. */
const peer = (ip: string, port: number, flags = "sentinel") => [
  "name",
  `id-${ip}`,
  "ip",
  ip,
  "port",
  String(port),
  "flags",
  flags,
];

test("the next Sentinels: the one that answered, the live ones it knows, then the rest", () => {
  const answered = { host: "10.0.0.3", port: 26379 };
  const known = [
    { host: "10.0.0.1", port: 26379 },
    { host: "10.0.0.3", port: 26379 },
  ];
  const peers = [
    peer("10.0.0.5", 26379),
    peer("10.0.0.1", 26379, "s_down,sentinel,disconnected"),
    peer("10.0.0.6", 26380),
  ];
  expect(nextSentinels(answered, peers, known)).toEqual([
    { host: "10.0.0.3", port: 26379 },
    { host: "10.0.0.5", port: 26379 },
    { host: "10.0.0.6", port: 26380 },
    // held down by the Sentinel: kept, but asked last
    { host: "10.0.0.1", port: 26379 },
  ]);
});

test("an answer that is not a list of Sentinels teaches nothing and loses nothing", () => {
  const answered = { host: "10.0.0.3", port: 26379 };
  const known = [{ host: "10.0.0.1", port: 26379 }, answered];
  const expected = [answered, { host: "10.0.0.1", port: 26379 }];
  expect(nextSentinels(answered, [], known)).toEqual(expected);
  expect(nextSentinels(answered, { error: "NOAUTH" }, known)).toEqual(expected);
  expect(
    nextSentinels(answered, ["junk", ["ip"], peer("", 1), peer("10.0.0.9", 0)], known),
  ).toEqual(expected);
});
