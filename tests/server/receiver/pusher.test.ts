import { expect, test } from "bun:test";
import { pusherAddress } from "../../../server/receiver/pusher.ts";

test("a pusher is known by their peer address; what they claim in X-Forwarded-For is not believed", () => {
  expect(pusherAddress("203.0.113.9", null)).toBe("203.0.113.9");
  expect(pusherAddress("203.0.113.9", "198.51.100.1")).toBe("203.0.113.9");
  expect(pusherAddress("127.0.0.2", "198.51.100.1")).toBe("127.0.0.2");
});

test("behind a proxy on the control host the last forwarded address counts; the host itself never", () => {
  expect(pusherAddress("127.0.0.1", "10.0.0.1, 198.51.100.7")).toBe("198.51.100.7");
  expect(pusherAddress("::1", "2001:db8::5")).toBe("2001:db8::5");
  expect(pusherAddress("::ffff:127.0.0.1", " 198.51.100.8 ")).toBe("198.51.100.8");
  expect(pusherAddress("127.0.0.1", null)).toBeUndefined();
  expect(pusherAddress("127.0.0.1", " , ")).toBeUndefined();
});
