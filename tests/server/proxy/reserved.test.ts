import { expect, test } from "bun:test";
import { publicReserved, reservedPath } from "../../../server/proxy/reserved.ts";

test("the proxy's own paths are found in absolute and relative URLs, without the query", () => {
  expect(reservedPath("http://shop.example/_dropship/healthz?x=1")).toBe("/_dropship/healthz");
  expect(reservedPath("/_dropship/healthz")).toBe("/_dropship/healthz");
  expect(reservedPath("http://shop.example/disable/1")).toBe("/disable/1");
  expect(reservedPath("http://shop.example/")).toBeUndefined();
  expect(reservedPath("http://shop.example/_dropshipping")).toBe("/_dropshipping");
  expect(reservedPath("http://shop.example/disabled")).toBeUndefined();
  expect(reservedPath("shop.example:443")).toBeUndefined();
});

test("the public listener hands only healthz and /disable/ on; the rest is one 404", async () => {
  const seen: string[] = [];
  const admin = {
    handle: (request: Request) => {
      seen.push(request.url);
      return new Response("admin");
    },
  };
  const at = (url: string) => publicReserved(reservedPath(url) ?? "", new Request(url), admin);
  expect(await (await at("http://shop.example/_dropship/healthz")).text()).toBe("admin");
  expect(await (await at("http://shop.example/disable/1")).text()).toBe("admin");
  for (const path of ["/_dropship/status", "/_dropship/", "/_dropship/flags/x", "/_dropshipping"]) {
    const answer = await at(`http://shop.example${path}`);
    expect(answer.status).toBe(404);
    expect(await answer.text()).toBe("Not found.\n");
  }
  expect(seen).toEqual(["http://shop.example/_dropship/healthz", "http://shop.example/disable/1"]);
});
