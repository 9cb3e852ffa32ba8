/**
 * Composite routes: `GET /startup` answered by the parts the config names, each dispatched
 * through its own route and policies with the caller's tenant and credentials, all at once, and
 * assembled into one document with a defined shape:
 *
 * ```json
 * { "parts": { "profile": { "status": 200, "body": {...} }, "feed": { "status": 504, "body": {...} } },
 *   "partial": true }
 * ```
 *
 * A failed part is reported in its own slot (`partial: true`), never a failure of the whole;
 * the composite itself answers 200 unless every part failed (then 502).
 */
import { setMaxListeners } from 'node:events';
import type { CallContext } from 'batchflight/core';
import type { CompositeConfig, RouteConfig } from './config.js';
import type { DispatchRequest } from './http.js';
import { headerValue, jsonResponse, type GatewayRequest, type GatewayResponse } from './http.js';
import type { Route, RouteStats } from './route.js';

function decode(response: GatewayResponse): unknown {
  const text = response.body.toString('utf8');
  if (!/\bjson\b/i.test(headerValue(response.headers, 'content-type') ?? '')) return text;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** Builds a composite route over the gateway's dispatcher. */
export function compositeRoute(
  config: CompositeConfig,
  dispatch: (request: DispatchRequest) => Promise<GatewayResponse>,
): Route {
  const name = `GET ${config.path}`;
  let requests = 0;
  const parts = Object.entries(config.parts);
  const routeConfig: RouteConfig = { method: 'GET', path: config.path, upstream: '', policies: [] };
  return {
    name,
    config: routeConfig,
    async handle(request: GatewayRequest, ctx: CallContext): Promise<GatewayResponse> {
      requests++;
      // Every part listens to the caller's one signal: many listeners is normal here.
      setMaxListeners(0, ctx.signal);
      const answers = await Promise.all(
        parts.map(async ([part, url]) => {
          const response = await dispatch({
            method: 'GET',
            url,
            headers: request.headers,
            body: undefined,
            signal: ctx.signal,
          });
          return [part, { status: response.status, body: decode(response) }] as const;
        }),
      );
      const failed = answers.filter(([, answer]) => answer.status >= 400).length;
      return jsonResponse(failed === parts.length && parts.length > 0 ? 502 : 200, {
        parts: Object.fromEntries(answers),
        partial: failed > 0,
      });
    },
    stats(): RouteStats {
      // Its parts' upstream calls are counted by their own routes.
      return { route: name, requests, upstreamCalls: 0, saved: 0 };
    },
    close: () => Promise.resolve(),
  };
}
