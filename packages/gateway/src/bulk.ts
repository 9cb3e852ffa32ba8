/**
 * The `batch` policy: single-item requests (`GET /users/:id`) gathered by the core `batch()`
 * into one call of the upstream's bulk endpoint (`GET /users?ids=1,2,3` or `POST /users/bulk`
 * with `{"ids": [...]}`), and the bulk answer mapped back to each caller:
 *
 * - an item found is that caller's 200 with the item as its JSON body;
 * - an item absent from the answer is that caller's 404;
 * - an item with the configured error field is that caller's 502 naming the error;
 * - a bulk answer that is not a 2xx, not JSON or has no array where the items should be is a
 *   502 with that reason for every caller of the batch: a defined answer, never a hang.
 *
 * A batch holds the items of one scope (tenant and credentials), so the bulk call carries the
 * credentials of its callers and two users never share one.
 */
import { batch, type Batcher } from 'batchflight/batch';
import type { CallContext, Clock, Handler } from 'batchflight/core';
import type { BatchPolicyConfig } from './config.js';
import { GatewayError, UpstreamStatusError } from './errors.js';
import { headerValue, jsonResponse, type GatewayRequest, type GatewayResponse } from './http.js';

type RouteHandler = Handler<GatewayRequest, GatewayResponse>;

interface Item {
  readonly id: string;
  readonly request: GatewayRequest;
}

/** The batch policy of one route: the per-item handler and its batcher. */
export interface BulkSource {
  readonly handler: RouteHandler;
  readonly batcher: Batcher<Item, GatewayResponse>;
}

/** The bulk request for the ids of one batch, built from the first item's request. */
export function bulkRequest(
  config: BatchPolicyConfig,
  ids: readonly string[],
  first: GatewayRequest,
): GatewayRequest {
  const { request } = config;
  if (request.method === 'GET') {
    const query = `${encodeURIComponent(request.query)}=${ids.map(encodeURIComponent).join(request.separator)}`;
    const url = `${request.path}${request.path.includes('?') ? '&' : '?'}${query}`;
    return { ...first, method: 'GET', url, params: {}, body: undefined };
  }
  const headers = { ...first.headers, 'content-type': 'application/json' };
  const body = Buffer.from(JSON.stringify({ [request.bodyField]: ids }));
  return { ...first, method: 'POST', url: request.path, params: {}, headers, body };
}

function at(value: unknown, path: string): unknown {
  if (path === '') return value;
  let node = value;
  for (const part of path.split('.')) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

/**
 * Maps a bulk answer to one answer per id, in the order of `ids`.
 *
 * @throws GatewayError (502) when the answer as a whole is unusable.
 */
export function mapBulkResponse(
  config: BatchPolicyConfig,
  ids: readonly string[],
  response: GatewayResponse,
): (GatewayResponse | Error)[] {
  const where = `the bulk call ${config.request.method} ${config.request.path}`;
  if (response.status < 200 || response.status >= 300) {
    throw new GatewayError(
      502,
      'bulk-status',
      `${where} answered ${String(response.status)}, expected a 2xx.`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(response.body.toString('utf8'));
  } catch {
    const type = headerValue(response.headers, 'content-type') ?? 'no content-type';
    throw new GatewayError(
      502,
      'bulk-not-json',
      `${where} answered a body that is not JSON (${type}).`,
    );
  }
  const items = at(parsed, config.response.items);
  if (!Array.isArray(items)) {
    const path = config.response.items === '' ? 'the top level' : `"${config.response.items}"`;
    throw new GatewayError(502, 'bulk-shape', `${where} answered no array of items at ${path}.`);
  }
  const found = new Map<string, GatewayResponse | Error>();
  const { key, error } = config.response;
  for (const item of items as unknown[]) {
    if (typeof item !== 'object' || item === null) continue;
    const raw = (item as Record<string, unknown>)[key];
    if (typeof raw !== 'string' && typeof raw !== 'number') continue;
    const id = String(raw);
    const failure = error === undefined ? undefined : (item as Record<string, unknown>)[error];
    found.set(
      id,
      failure === undefined || failure === null
        ? jsonResponse(200, item)
        : new GatewayError(
            502,
            'item-error',
            `${where} failed item ${id}: ${typeof failure === 'string' ? failure : JSON.stringify(failure)}`,
          ),
    );
  }
  return ids.map(
    (id) =>
      found.get(id) ??
      jsonResponse(404, {
        error: { reason: 'not-found', message: `${where} has no item ${JSON.stringify(id)}.` },
      }),
  );
}

/**
 * Builds the batch policy of a route.
 *
 * @param bulk - the handler of the bulk call: the policies listed after `batch`, then the upstream.
 */
export function bulkSource(
  config: BatchPolicyConfig,
  name: string,
  bulk: RouteHandler,
  clock: Clock,
): BulkSource {
  const batcher = batch<Item, GatewayResponse>({
    name,
    clock,
    maxSize: config.maxSize,
    ...(config.window === 'adaptive'
      ? {
          window: 'adaptive' as const,
          ...(config.latencyTargetMs === undefined
            ? {}
            : { latencyTargetMs: config.latencyTargetMs }),
        }
      : { maxWaitMs: config.maxWaitMs }),
    key: (item) => item.id,
    load: async (items, ctx) => {
      const ids = items.map((item) => item.id);
      const first = (items[0] as Item).request;
      let response: GatewayResponse;
      try {
        response = await bulk(bulkRequest(config, ids, first), ctx);
      } catch (error) {
        // A failed bulk answer is unusable as every item's answer: a 502 naming it.
        if (!UpstreamStatusError.is(error)) throw error;
        response = error.response;
      }
      return mapBulkResponse(config, ids, response);
    },
  });
  const handler = (request: GatewayRequest, ctx: CallContext): Promise<GatewayResponse> => {
    const id = request.params[config.param] ?? '';
    return batcher.load({ id, request }, ctx);
  };
  return { handler, batcher };
}
