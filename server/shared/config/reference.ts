import type { TSchema } from "@sinclair/typebox";
import { ConfigSchema } from "./schema.ts";

interface Node extends Record<string, unknown> {
  type?: string;
  description?: string;
  default?: unknown;
  properties?: Record<string, Node>;
  items?: Node;
  maxItems?: number;
  anyOf?: Node[];
  const?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  pattern?: string;
  duration?: boolean;
  positive?: boolean;
}

const HEADER = `# Configuration reference

Generated from the schema (\`server/shared/config/schema.ts\`) by \`bun run docs:config\`; a
test fails when this file and the schema disagree. One YAML file describes a deployment
(\`dropship.yml\`; [\`dropship.example.yml\`](../dropship.example.yml) is an annotated copy).
Every key is optional: what is left out takes the default below. Durations are written like
\`500ms\`, \`5s\`, \`10m\`, \`1h\`. A key is written once in its section: a second \`proxy:\`
further down is refused, naming its line, not merged or kept last. Secrets never go in this
file — they come from the environment (see the README).

| key | type | default | meaning |
|---|---|---|---|
`;

/** The configuration reference as Markdown: one row per key, from the schema itself. */
export function configReference(schema: TSchema = ConfigSchema): string {
  const rows: string[] = [];
  walk(schema as Node, "", rows);
  return `${HEADER}${rows.join("\n")}\n`;
}

function walk(node: Node, path: string, rows: string[]) {
  if (node.type === "object" && node.properties) {
    if (path) rows.push(`| \`${path}\` | section | | ${escapeCell(node.description ?? "")} |`);
    for (const [key, child] of Object.entries(node.properties))
      walk(child, path ? `${path}/${key}` : key, rows);
    return;
  }
  rows.push(
    `| \`${path}\` | ${typeOf(node)} | ${defaultOf(node)} | ${escapeCell(node.description ?? "")} |`,
  );
  // a list of sections: a row for each key of an item, the item's place written as *
  if (node.type === "array" && node.items?.type === "object" && node.items.properties)
    for (const [key, child] of Object.entries(node.items.properties))
      walk(child, `${path}/*/${key}`, rows);
}

function typeOf(node: Node): string {
  if (node.anyOf)
    return node.anyOf
      .map((choice) =>
        choice.const === undefined ? typeOf(choice) : `\`${String(choice.const)}\``,
      )
      .join(" \\| ");
  if (node.duration) return node.positive ? "duration > 0" : "duration";
  const range =
    node.minimum !== undefined || node.maximum !== undefined
      ? ` ${node.minimum ?? ""}…${node.maximum ?? ""}`
      : "";
  if (node.type === "integer") return `integer${range}`;
  if (node.type === "number") return `number${range}`;
  if (node.type === "string" && node.pattern === "^[a-z0-9][a-z0-9-]*$") return "slug";
  if (node.type === "string" && node.pattern?.startsWith("^/")) return "path";
  if (node.type === "array" && node.items?.type === "object")
    return `list of sections${node.maxItems === undefined ? "" : `, at most ${node.maxItems}`}`;
  return node.type ?? "any";
}

function defaultOf(node: Node): string {
  if (node.default === undefined) return "—";
  if (typeof node.default === "object") return "";
  return `\`${String(node.default)}\``;
}

function escapeCell(text: string): string {
  return text.replaceAll("|", "\\|");
}
