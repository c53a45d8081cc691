import { afterAll } from "bun:test";
import { type Browser, chromium } from "playwright-core";

/**
 * Debian's Chromium, headless, closed after the file's tests. Without the background-networking
 * flags it keeps trying to reach Google's hosts, which this machine's closed network refuses.
 */
export async function launchChromium(
  options: { args?: string[]; env?: Record<string, string | undefined> } = {},
): Promise<Browser> {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    ...(options.env ? { env: options.env } : {}),
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      ...(options.args ?? []),
    ],
  });
  afterAll(() => browser.close());
  return browser;
}
