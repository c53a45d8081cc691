import type { FileSink } from "bun";
import { pipeInto } from "../shared/proc.ts";

const BACKEND = "/usr/lib/git-core/git-http-backend";
const REPO = /^\/([A-Za-z0-9][\w.-]{0,63})\.git(\/.*)$/;
const SERVICES = new Set(["/info/refs", "/git-upload-pack", "/git-receive-pack", "/HEAD"]);

/** git settings for the backend, over whatever the repository's own config says. */
export function gitConfig(settings: Record<string, string>): Record<string, string> {
  const entries = Object.entries(settings);
  return Object.fromEntries([
    ["GIT_CONFIG_COUNT", String(entries.length)],
    ...entries.flatMap(([key, value], i) => [
      [`GIT_CONFIG_KEY_${i}`, key],
      [`GIT_CONFIG_VALUE_${i}`, value],
    ]),
  ]);
}

/** The repository a path names, and the rest of the path; undefined for anything else. */
export function parseGitPath(pathname: string): { repo: string; rest: string } | undefined {
  const match = REPO.exec(pathname);
  if (!match) return undefined;
  const rest = match[2] as string;
  if (!SERVICES.has(rest) && !rest.startsWith("/objects/")) return undefined;
  return { repo: match[1] as string, rest };
}

/**
 * Serves one smart-HTTP request with `git http-backend` (CGI): the stock git client and
 * isomorphic-git both speak to it. Request and response bodies stream; the pushing user is
 * passed as REMOTE_USER, which receive-pack requires.
 */
export async function gitHttpBackend(
  request: Request,
  root: string,
  path: { repo: string; rest: string },
  user: string,
  extraEnv: Record<string, string> = {},
): Promise<Response> {
  const url = new URL(request.url);
  const env: Record<string, string> = {
    ...extraEnv,
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    GIT_PROJECT_ROOT: root,
    GIT_HTTP_EXPORT_ALL: "1",
    PATH_INFO: `/${path.repo}.git${path.rest}`,
    QUERY_STRING: url.search.slice(1),
    REQUEST_METHOD: request.method,
    CONTENT_TYPE: request.headers.get("content-type") ?? "",
    REMOTE_USER: user,
    REMOTE_ADDR: "127.0.0.1",
    GIT_HTTP_MAX_REQUEST_BUFFER: "100M",
  };
  const encoding = request.headers.get("content-encoding");
  if (encoding) env.HTTP_CONTENT_ENCODING = encoding;
  const protocol = request.headers.get("git-protocol");
  if (protocol) env.GIT_PROTOCOL = protocol;
  const length = request.headers.get("content-length");
  if (length) env.CONTENT_LENGTH = length;

  const child = Bun.spawn([BACKEND], {
    env,
    stdin: request.body ? "pipe" : "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  if (request.body && child.stdin)
    pipeInto(request.body, child.stdin as FileSink).catch(() => child.kill());
  return cgiResponse(child.stdout);
}

/** Reads the CGI header block, then streams the rest as the body. */
async function cgiResponse(stdout: ReadableStream<Uint8Array>): Promise<Response> {
  const reader = stdout.getReader();
  let buffered = new Uint8Array(0);
  let headerEnd = -1;
  while (headerEnd < 0) {
    const { value, done } = await reader.read();
    if (done) break;
    const next = new Uint8Array(buffered.length + value.length);
    next.set(buffered);
    next.set(value, buffered.length);
    buffered = next;
    headerEnd = indexOfBlankLine(buffered);
  }
  if (headerEnd < 0) return new Response("git http-backend gave no answer\n", { status: 500 });
  const head = new TextDecoder().decode(buffered.subarray(0, headerEnd.valueOf()));
  const separator = buffered[headerEnd] === 13 ? 4 : 2;
  const first = buffered.subarray(headerEnd + separator);
  const headers = new Headers();
  let status = 200;
  for (const line of head.split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (name.toLowerCase() === "status") status = Number(value.split(" ")[0]) || 200;
    else headers.append(name, value);
  }
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      if (first.length > 0) controller.enqueue(first);
    },
    async pull(controller) {
      const { value, done } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel() {
      reader.cancel();
    },
  });
  return new Response(body, { status, headers });
}

function indexOfBlankLine(bytes: Uint8Array): number {
  for (let i = 0; i + 1 < bytes.length; i++) {
    if (bytes[i] === 10 && bytes[i + 1] === 10) return i;
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10)
      return i;
  }
  return -1;
}
