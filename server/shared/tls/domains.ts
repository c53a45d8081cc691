/** A DNS hostname of two or more labels, as ACME issues for: letters, digits and dashes. */
const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/** Why `text` cannot be a domain in proxy.tls.domains, or undefined when it can. */
export function domainFault(text: string): string | undefined {
  const name = text.toLowerCase();
  if (name.startsWith("*."))
    return `${text} is a wildcard, which ACME issues only over DNS-01, and dropship uses HTTP-01 — list each name (shop.example.com, www.shop.example.com), or give certificate_file and key_file`;
  const labels = name.split(".");
  if (name.length > 253 || labels.length < 2 || !labels.every((label) => LABEL.test(label)))
    return `${text} is not a hostname — write it like shop.example.com (letters, digits, dashes and dots; no scheme, port or path)`;
  if (/^\d+$/.test(labels.at(-1) as string))
    return `${text} is an IP address — ACME's HTTP-01 certificates are for names; point a domain at the proxy`;
  return undefined;
}
