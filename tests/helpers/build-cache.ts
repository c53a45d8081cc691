import { BUILD_CACHE_VARIABLE } from "../../server/shared/platform.ts";

/**
 * The run's build cache (scripts/test.ts makes one), for a command a test starts with an
 * environment of its own: the same commit's servers are copied, not compiled again.
 */
export const BUILD_CACHE_ENV: Record<string, string> = process.env[BUILD_CACHE_VARIABLE]
  ? { [BUILD_CACHE_VARIABLE]: process.env[BUILD_CACHE_VARIABLE] }
  : {};
