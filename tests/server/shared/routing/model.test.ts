import { expect, test } from "bun:test";
import { type Backend, emptiesProduction } from "../../../../server/shared/routing/model.ts";

const backend = (id: string, track: Backend["track"], draining = false): Backend => ({
  id,
  url: `http://${id}`,
  track,
  draining,
});

test("taking out the last production backend in rotation is named; any other is not", () => {
  const fleet = [
    backend("10.0.0.1:3000", "production"),
    backend("10.0.0.2:3000", "production", true),
    backend("10.0.0.3:3000", "staging"),
  ];
  expect(emptiesProduction(fleet, "10.0.0.1:3000")).toBe(
    "10.0.0.1:3000 is the only production backend in rotation: without it every production visitor gets a 503",
  );
  // a draining one takes no new requests already; staging's visitors fall back to production
  expect(emptiesProduction(fleet, "10.0.0.2:3000")).toBeUndefined();
  expect(emptiesProduction(fleet, "10.0.0.3:3000")).toBeUndefined();
  expect(emptiesProduction(fleet, "10.0.0.9:3000")).toBeUndefined();
  // with a second in rotation either may go
  const two = [...fleet, backend("10.0.0.4:3000", "production")];
  expect(emptiesProduction(two, "10.0.0.1:3000")).toBeUndefined();
  expect(emptiesProduction(two, "10.0.0.4:3000")).toBeUndefined();
  expect(emptiesProduction([], "10.0.0.1:3000")).toBeUndefined();
});
