/**
 * Upstream connection pools (undici): one `Pool` per configured upstream, and the terminal
 * handler of every route, which sends one request and hands its answer back either streamed
 * (an HTTP caller that takes it so: the bytes are piped through, never parsed or copied) or
 * complete (everything that shares, keeps or embeds answers).
 */
import { Pool } from 'undici';
import type { CallContext } from 'batchflight/core';
import type { UpstreamConfig } from './config.js';
import { forwardable, type GatewayRequest, type ProxiedResponse } from './http.js';

/**
 * Largest body, in bytes, that a streaming caller still receives complete when the upstream
 * announces its length: such a body arrives in a chunk or two anyway, and one complete buffer
 * leaves in one write with the headers, where a pipe costs a write per chunk and the stream
 * machinery per request. Longer bodies, and bodies of unknown length, stream through.
 */
export const STREAM_ABOVE_BYTES = 64 * 1024;

/** The pool of one upstream and what went through it. */
export class Upstream {
  readonly #pool: Pool;
  /** Requests sent (answered or not). */
  calls = 0;

  constructor(
    readonly name: string,
    config: UpstreamConfig,
  ) {
    this.#pool = new Pool(config.url, {
      connections: config.connections,
      pipelining: config.pipelining,
      connectTimeout: config.connectTimeoutMs,
      headersTimeout: config.headersTimeoutMs,
      bodyTimeout: config.bodyTimeoutMs,
    });
  }

  /**
   * Sends one request and resolves, once the upstream's headers are in, to its answer: streamed
   * when `request.stream` is set, complete otherwise. `ctx.signal` cancels it (the body too):
   * under a coalesce or batch policy that signal aborts only when the last waiter has left.
   */
  async send(request: GatewayRequest, ctx: CallContext): Promise<ProxiedResponse> {
    this.calls++;
    const answer = await this.#pool.request({
      method: request.method,
      path: request.url,
      headers: request.headers,
      body: request.body ?? null,
      signal: ctx.signal,
    });
    if (request.stream === true && announcedLength(answer.headers) > STREAM_ABOVE_BYTES) {
      return {
        status: answer.statusCode,
        headers: forwardable(answer.headers, true),
        stream: answer.body,
      };
    }
    const body = Buffer.from(await answer.body.arrayBuffer());
    return { status: answer.statusCode, headers: forwardable(answer.headers), body };
  }

  /** Closes the pool after its requests in flight. */
  close(): Promise<void> {
    return this.#pool.close();
  }

  /** Destroys the pool, failing its requests in flight. */
  destroy(): Promise<void> {
    return this.#pool.destroy();
  }
}

// The body length the upstream announced, or Infinity when it did not (chunked, or no header).
function announcedLength(headers: Record<string, string | string[] | undefined>): number {
  const length = headers['content-length'];
  if (typeof length !== 'string' || headers['transfer-encoding'] !== undefined) return Infinity;
  const bytes = Number(length);
  return Number.isInteger(bytes) && bytes >= 0 ? bytes : Infinity;
}
