/**
 * An incremental decoder for a chunked body (RFC 9112 §7.1). Extensions are skipped, trailers
 * read and dropped (a proxy need not forward them); sizes, CRLFs and line lengths are checked
 * strictly. Fed whatever bytes arrive; hands back the data and anything after the body.
 */

const MAX_LINE = 4096;
const MAX_TRAILER_BYTES = 16 * 1024;
const HEX = /^[0-9a-fA-F]{1,13}$/;
const decoder = new TextDecoder("latin1");

type State = "size" | "data" | "data-crlf" | "trailer" | "done";

export interface Decoded {
  chunks: Uint8Array[];
  /** the last chunk and the trailers have been read */
  done: boolean;
  /** bytes after the end of the body (only once done) */
  rest?: Uint8Array;
}

export class ChunkedDecoder {
  private state: State = "size";
  private remaining = 0;
  /** a size or trailer line not yet complete */
  private line: Uint8Array = new Uint8Array(0);
  private trailerBytes = 0;

  get done(): boolean {
    return this.state === "done";
  }

  /** Decodes what it can of `bytes`; throws on a malformed body. */
  feed(bytes: Uint8Array): Decoded {
    const chunks: Uint8Array[] = [];
    let at = 0;
    while (at < bytes.length && this.state !== "done") {
      if (this.state === "data") {
        const take = Math.min(this.remaining, bytes.length - at);
        chunks.push(bytes.subarray(at, at + take));
        at += take;
        this.remaining -= take;
        if (this.remaining === 0) this.state = "data-crlf";
        continue;
      }
      const lineEnd = bytes.indexOf(10, at);
      const piece = bytes.subarray(at, lineEnd < 0 ? bytes.length : lineEnd + 1);
      at += piece.length;
      this.line = this.line.length ? concat(this.line, piece) : piece;
      if (this.line.length > MAX_LINE) throw new Error("a chunk line is longer than 4096 bytes");
      if (lineEnd < 0) break;
      const line = this.line;
      this.line = new Uint8Array(0);
      if (line.length < 2 || line[line.length - 2] !== 13) {
        throw new Error("a chunk line does not end in CRLF");
      }
      const text = decoder.decode(line.subarray(0, line.length - 2));
      if (this.state === "data-crlf") {
        if (text !== "") throw new Error("a chunk's data is longer than its size");
        this.state = "size";
      } else if (this.state === "size") {
        this.readSize(text);
      } else {
        this.trailerBytes += line.length;
        if (this.trailerBytes > MAX_TRAILER_BYTES)
          throw new Error("the trailers are larger than 16 KiB");
        if (text === "") this.state = "done";
        else if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*$/.test(text)) {
          throw new Error("a trailer field is malformed");
        }
      }
    }
    if (this.state === "done") return { chunks, done: true, rest: bytes.subarray(at) };
    return { chunks, done: false };
  }

  private readSize(text: string): void {
    const semicolon = text.indexOf(";");
    const size = (semicolon < 0 ? text : text.slice(0, semicolon)).replace(/[ \t]+$/, "");
    if (!HEX.test(size))
      throw new Error(`the chunk size ${JSON.stringify(size.slice(0, 20))} is not hexadecimal`);
    if (semicolon >= 0 && hasControl(text, semicolon)) {
      throw new Error("a chunk extension holds a control character");
    }
    this.remaining = Number.parseInt(size, 16);
    this.state = this.remaining === 0 ? "trailer" : "data";
  }
}

/** A control character other than HTAB from `from` on. */
function hasControl(text: string, from: number): boolean {
  for (let i = from; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if ((code < 32 && code !== 9) || code === 127) return true;
  }
  return false;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
