import { expect, test } from "bun:test";
import {
  DEFAULT_MAINTENANCE_MESSAGE,
  MAINTENANCE_MESSAGE_MAX,
  maintenanceMessageFault,
  maintenancePage,
  parseMaintenance,
} from "../../../../server/shared/routing/maintenance.ts";

test("the page says the message, escaped, and asks not to be indexed", () => {
  const page = maintenancePage(`Back at 3 <b>pm</b> & "soon" — <script>alert(1)</script>`);
  expect(page).toContain(
    "<p>Back at 3 &#60;b&#62;pm&#60;/b&#62; &#38; &#34;soon&#34; — &#60;script&#62;alert(1)&#60;/script&#62;</p>",
  );
  expect(page).not.toContain("<script>");
  expect(page).toContain('<meta name="robots" content="noindex">');
  expect(maintenancePage(DEFAULT_MAINTENANCE_MESSAGE)).toContain(
    `<p>${DEFAULT_MAINTENANCE_MESSAGE}</p>`,
  );
});

test("a message is one line of at most 500 characters, and says what to do otherwise", () => {
  expect(maintenanceMessageFault("Upgrading the database, back by 15:00 UTC.")).toBeUndefined();
  expect(maintenanceMessageFault("x".repeat(MAINTENANCE_MESSAGE_MAX))).toBeUndefined();
  expect(maintenanceMessageFault("x".repeat(MAINTENANCE_MESSAGE_MAX + 1))).toBe(
    "the message has 501 characters; keep it to 500",
  );
  expect(maintenanceMessageFault("  ")).toBe(
    "the message is empty — leave it out for the default one",
  );
  for (const bad of ["two\nlines", "a\ttab", "a\u0000nul", "bell\u0007"])
    expect(maintenanceMessageFault(bad)).toBe(
      "the message holds a control character (a newline, a tab): write it as one line",
    );
});

test("maintenance as stored: a record of it, or nothing (then it is off)", () => {
  const on = { on: true, message: "back soon", since: "2026-12-04T13:00:00.000Z", by: "ann" };
  // the change script's stamps are not the record's
  expect(parseMaintenance(JSON.stringify({ ...on, version: 7, updatedBy: "ann" }))).toEqual(on);
  expect(parseMaintenance(undefined)).toBeUndefined();
  expect(parseMaintenance("not json")).toBeUndefined();
  expect(parseMaintenance(JSON.stringify({ on: "yes", message: "x", since: "", by: "" }))).toBe(
    undefined,
  );
});
