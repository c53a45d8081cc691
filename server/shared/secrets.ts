/** Environment variables that hold secrets, whole or inside a URL. */
export const SECRET_VARIABLES = [
  "DIGITALOCEAN_TOKEN",
  "DROPSHIP_ADMIN_TOKEN",
  "REDIS_URL",
  "SMTP_URL",
  "DROPSHIP_REDIS_PASSWORD",
  "DROPSHIP_GITOPS_TOKEN",
] as const;

/** A URL with any password replaced by `****`; text that is not a URL is returned as is. */
export function maskUrl(text: string): string {
  try {
    const url = new URL(text);
    const sentinel = url.searchParams.has("sentinel_password");
    if (!url.password && !sentinel) return text;
    if (url.password) url.password = "****";
    if (sentinel) url.searchParams.set("sentinel_password", "****");
    return url.toString();
  } catch {
    return text;
  }
}

/** How a secret variable may be shown: URLs without their password, tokens not at all. */
export function describeSecret(value: string | undefined): string {
  if (value === undefined || value === "") return "(not set)";
  if (/^[a-z+]+:\/\//i.test(value)) return maskUrl(value);
  return `(set, ${value.length} characters)`;
}

/** Removes every known secret value from a text before it is logged or shown. */
export function redact(text: string, env: Record<string, string | undefined> = process.env) {
  let out = text;
  for (const name of SECRET_VARIABLES) {
    const value = env[name];
    if (!value || value.length < 4) continue;
    out = out.split(value).join(`<${name}>`);
    for (const password of passwordsOf(value))
      if (password.length >= 4) out = out.split(password).join("****");
  }
  return out;
}

function passwordsOf(text: string): string[] {
  try {
    const url = new URL(text);
    return [decodeURIComponent(url.password), url.searchParams.get("sentinel_password") ?? ""];
  } catch {
    return [];
  }
}

/**
 * Replaces each of `values` in a text with `****`; those under 8 characters are left, since a
 * short value (`warm`, `1`) would be masked out of every word that holds it.
 */
export function maskValues(text: string, values: readonly string[]): string {
  let out = text;
  for (const value of values) if (value.length >= 8) out = out.split(value).join("****");
  return out;
}
