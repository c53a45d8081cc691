/**
 * What the pipeline gate adds to a request on a connection the own front passed to Bun.serve
 * (a POST, and every request after it on that connection): its reading of the request's
 * framing on the way in and of the answer's on the way back. A browser's POST with a small
 * form, a GET after it, and a chunked upload in 4 KiB chunks, each with a typical answer.
 *
 *   bun bench/pipeline-gate.ts [requests=200000]
 */
import { PipelineGate } from "../server/proxy/native/pipeline-gate.ts";

const requests = Number(process.argv[2] ?? 200_000);
const encode = (text: string) => new TextEncoder().encode(text);

const FIELDS =
  "Host: shop.example\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\nAccept: text/html,application/xhtml+xml\r\nAccept-Language: en-GB,en;q=0.5\r\nCookie: dropship_visitor=4f2a9c; session=a81b2c\r\n";
const ANSWER = encode(
  `HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\nx-dropship-track: production\r\nx-request-id: 0b6f3f0e-8a43-4d0c-9f53-1f0d2a4c9e11\r\ndate: Mon, 07 Dec 2026 20:00:00 GMT\r\ncontent-length: 2048\r\n\r\n${"y".repeat(2048)}`,
);
const form = "item=42&quantity=1&note=gift";
const chunk = "x".repeat(4096);

const cases: [string, Uint8Array[]][] = [
  [
    "POST, a small form",
    [
      encode(
        `POST /orders HTTP/1.1\r\n${FIELDS}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ${form.length}\r\n\r\n${form}`,
      ),
    ],
  ],
  ["GET after it", [encode(`GET /orders/42 HTTP/1.1\r\n${FIELDS}\r\n`)]],
  [
    "chunked upload, 16 KiB in 4 reads",
    [
      encode(`PUT /files/a HTTP/1.1\r\n${FIELDS}Transfer-Encoding: chunked\r\n\r\n`),
      ...Array.from({ length: 4 }, () => encode(`1000\r\n${chunk}\r\n`)),
      encode("0\r\n\r\n"),
    ],
  ],
];

console.log("| request on a passed connection | µs a request and its answer (median of 5) |");
console.log("|---|---|");
for (const [name, reads] of cases) {
  const gate = new PipelineGate(64 * 1024);
  const rounds: number[] = [];
  for (let round = 0; round < 5; round++) {
    const t0 = performance.now();
    for (let i = 0; i < requests; i++) {
      for (const read of reads) gate.fromVisitor(read);
      gate.fromInner(ANSWER);
    }
    rounds.push(((performance.now() - t0) * 1000) / requests);
  }
  if (gate.stepsAside) throw new Error(`${name}: the gate stepped aside; the bench is wrong`);
  rounds.sort((a, b) => a - b);
  console.log(`| ${name} | ${(rounds[2] as number).toFixed(2)} |`);
}
