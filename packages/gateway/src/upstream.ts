/**
 * Upstream connection pools (undici): one `Pool` per configured upstream, and the terminal
 * handler of every route, which sends one request and buffers its answer.
 */
import { Pool } from 'undici';
import type { CallContext } from 'batchflight/core';
import type { UpstreamConfig } from './config.js';
import { forwardable, type GatewayRequest, type GatewayResponse } from './http.js';

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
      connectTimeout: config.connectTimeoutMs,
      headersTimeout: config.headersTimeoutMs,
      bodyTimeout: config.bodyTimeoutMs,
    });
  }

  /**
   * Sends one request and resolves to its complete answer. `ctx.signal` cancels it: under a
   * coalesce or batch policy that signal aborts only when the last waiter has left.
   */
  async send(request: GatewayRequest, ctx: CallContext): Promise<GatewayResponse> {
    this.calls++;
    const answer = await this.#pool.request({
      method: request.method,
      path: request.url,
      headers: request.headers,
      body: request.body ?? null,
      signal: ctx.signal,
    });
    const body = Buffer.from(await answer.body.arrayBuffer());
    return {
      status: answer.statusCode,
      headers: forwardable(answer.headers),
      body,
    };
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
