/** Anything that handles a Request, as the admin Elysia app does. */
interface Handler {
  handle(request: Request): Response | Promise<Response>;
}

/**
 * The path of a request for the proxy itself (`/_dropship…`, the seed's `/disable/…`), without
 * its query, or undefined when the request is the app's. Bun's `url` is absolute when the Host
 * was usable and relative otherwise; both are read here.
 */
export function reservedPath(url: string): string | undefined {
  const pathAt = pathStart(url);
  if (pathAt < 0) return undefined;
  if (!url.startsWith("/_dropship", pathAt) && !url.startsWith("/disable/", pathAt)) {
    return undefined;
  }
  const query = url.indexOf("?", pathAt);
  return url.slice(pathAt, query < 0 ? undefined : query);
}

/** Where the path begins in a URL as Bun hands it over (absolute or relative); -1 if nowhere. */
export function pathStart(url: string): number {
  return url.charCodeAt(0) === 47 ? 0 : url.indexOf("/", url.indexOf("//") + 2);
}

const NOT_FOUND = () =>
  new Response("Not found.\n", {
    status: 404,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });

/**
 * The public listener's share of the reserved paths: the proxy's health and the seed's flag
 * URLs. Every other `/_dropship` path is the same 404, whether the admin listener has it or
 * not, so nothing about the admin API can be learned here.
 */
export function publicReserved(
  path: string,
  request: Request,
  admin: Handler,
): Response | Promise<Response> {
  const relative = request.url.charCodeAt(0) === 47;
  if (path === "/_dropship/healthz") {
    // health checkers often speak HTTP/1.0 without a Host: answer them all the same
    return admin.handle(relative ? new Request(`http://proxy${path}`) : request);
  }
  if (path.startsWith("/disable/")) {
    if (relative) {
      return new Response("The request has no usable Host field; send Host: <the site's name>.\n", {
        status: 400,
        headers: { "content-type": "text/plain; charset=utf-8" },
      });
    }
    return admin.handle(request);
  }
  return NOT_FOUND();
}
