/**
 * `POST /batch`, the consolidated endpoint:
 *
 * ```json
 * { "requests": [{ "id": "me", "method": "GET", "url": "/users/1" },
 *                { "id": "orders", "method": "GET", "url": "/orders?user={{me.body.id}}", "dependsOn": ["me"] }] }
 * ```
 *
 * answered `{ "responses": [{ "id", "status", "headers", "body" }] }` in request order. Each
 * sub-request is dispatched through its route's policies exactly as an HTTP request would be,
 * with the caller's tenant and credentials, so sub-requests coalesce with each other and with
 * concurrent traffic. Independent sub-requests start at once; a dependent one starts when what
 * it depends on has answered (not level by level), and may use their answers through
 * `{{id.body.path}}` / `{{id.status}}` placeholders in its URL, header values and body. A
 * dependency that failed (status ≥ 400) answers its dependents 424. No cap but the configured
 * `maxRequests`; one failed sub-request never fails the others.
 */
import { ConfigError, validateConfig, z } from '@batchflight/config';
import type { GatewayConfig } from './config.js';
import { headerValue, jsonResponse, type DispatchRequest, type GatewayResponse } from './http.js';

const subRequestSchema = z.strictObject({
  id: z.string().min(1),
  method: z.enum(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']),
  url: z.string().startsWith('/'),
  headers: z.record(z.string(), z.string()).optional(),
  body: z.unknown().optional(),
  dependsOn: z.array(z.string()).optional(),
});
type SubRequest = z.output<typeof subRequestSchema>;

/** One answer of a consolidated call. */
export interface SubResponse {
  readonly id: string;
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[]>>;
  /** Parsed JSON when the answer is JSON, text otherwise. */
  readonly body: unknown;
}

const bad = (reason: string, message: string): GatewayResponse =>
  jsonResponse(400, { error: { reason, message } });

/** The ids of a dependency cycle among `requests`, or undefined when there is none. */
export function findCycle(requests: readonly SubRequest[]): string[] | undefined {
  const byId = new Map(requests.map((request) => [request.id, request]));
  const state = new Map<string, 'visiting' | 'done'>();
  const path: string[] = [];
  const visit = (id: string): string[] | undefined => {
    if (state.get(id) === 'done') return undefined;
    if (state.get(id) === 'visiting') return [...path.slice(path.indexOf(id)), id];
    state.set(id, 'visiting');
    path.push(id);
    for (const dependency of byId.get(id)?.dependsOn ?? []) {
      const cycle = visit(dependency);
      if (cycle !== undefined) return cycle;
    }
    path.pop();
    state.set(id, 'done');
    return undefined;
  };
  for (const request of requests) {
    const cycle = visit(request.id);
    if (cycle !== undefined) return cycle;
  }
  return undefined;
}

function lookup(answers: ReadonlyMap<string, SubResponse>, reference: string): unknown {
  const [id = '', ...path] = reference.trim().split('.');
  let node: unknown = answers.get(id);
  for (const part of path) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

const PLACEHOLDER = /\{\{([^}]+)\}\}/g;

function fill(text: string, answers: ReadonlyMap<string, SubResponse>, encode: boolean): string {
  return text.replace(PLACEHOLDER, (_, reference: string) => {
    const value = lookup(answers, reference);
    const plain = typeof value === 'string' ? value : JSON.stringify(value ?? null);
    return encode ? encodeURIComponent(plain) : plain;
  });
}

// A string that is exactly one placeholder takes the referenced value with its type.
function fillValue(value: unknown, answers: ReadonlyMap<string, SubResponse>): unknown {
  if (typeof value === 'string') {
    const whole = /^\{\{([^}]+)\}\}$/.exec(value);
    return whole === null ? fill(value, answers, false) : lookup(answers, whole[1] ?? '');
  }
  if (Array.isArray(value)) return value.map((item) => fillValue(item, answers));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, fillValue(item, answers)]),
    );
  }
  return value;
}

function decodeBody(response: GatewayResponse): unknown {
  const type = headerValue(response.headers, 'content-type') ?? '';
  const text = response.body.toString('utf8');
  if (/\bjson\b/i.test(type)) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return text;
    }
  }
  return text;
}

/**
 * Answers one consolidated call.
 *
 * @param dispatch - the gateway's dispatcher: the same routes and policies as HTTP requests.
 */
export async function consolidated(
  options: Exclude<GatewayConfig['consolidated'], false>,
  request: DispatchRequest,
  config: GatewayConfig,
  dispatch: (request: DispatchRequest) => Promise<GatewayResponse>,
): Promise<GatewayResponse> {
  let parsed: unknown;
  try {
    parsed = JSON.parse((request.body ?? Buffer.alloc(0)).toString('utf8'));
  } catch (error) {
    return bad(
      'malformed-json',
      `the body of POST ${options.path} is not JSON: ${(error as Error).message}`,
    );
  }
  let requests: SubRequest[];
  try {
    requests = validateConfig(
      parsed,
      `POST ${options.path}`,
      z.strictObject({ requests: z.array(subRequestSchema).max(options.maxRequests) }),
    ).requests;
  } catch (error) {
    if (ConfigError.is(error)) return bad('invalid-batch', error.message);
    throw error;
  }
  const ids = new Set<string>();
  const duplicates = new Set<string>();
  for (const sub of requests) (ids.has(sub.id) ? duplicates : ids).add(sub.id);
  if (duplicates.size > 0) {
    return bad(
      'duplicate-id',
      `sub-request ids must be unique; repeated: ${[...duplicates].join(', ')}`,
    );
  }
  const unknown = requests.flatMap((sub) =>
    (sub.dependsOn ?? []).filter((id) => !ids.has(id)).map((id) => `${sub.id} → ${id}`),
  );
  if (unknown.length > 0) {
    return bad(
      'unknown-dependency',
      `dependsOn names ids that are not in the batch: ${unknown.join(', ')}`,
    );
  }
  const cycle = findCycle(requests);
  if (cycle !== undefined) {
    return bad('dependency-cycle', `dependsOn forms a cycle: ${cycle.join(' → ')}`);
  }

  // The caller's identity wins over a sub-request's own headers: no sub-request can speak for
  // another tenant or user.
  const identity: Record<string, string | string[]> = {};
  for (const name of [config.tenant.header, ...config.credentials]) {
    const value = request.headers[name];
    if (value !== undefined) identity[name] = value;
  }
  const answers = new Map<string, SubResponse>();
  const running = new Map<string, Promise<SubResponse>>();
  const run = async (sub: SubRequest): Promise<SubResponse> => {
    const dependencies = await Promise.all((sub.dependsOn ?? []).map((id) => start(id)));
    const failed = dependencies.find((dependency) => dependency.status >= 400);
    if (failed !== undefined) {
      return {
        id: sub.id,
        status: 424,
        headers: {},
        body: {
          error: {
            reason: 'failed-dependency',
            message: `${failed.id} answered ${String(failed.status)}`,
          },
        },
      };
    }
    const url = fill(sub.url, answers, true);
    if (splitPath(url) === options.path) {
      return {
        id: sub.id,
        status: 400,
        headers: {},
        body: {
          error: { reason: 'nested-batch', message: `${options.path} cannot be a sub-request` },
        },
      };
    }
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(sub.headers ?? {})) {
      headers[name.toLowerCase()] = fill(value, answers, false);
    }
    Object.assign(headers, identity);
    let body: Buffer | undefined;
    if (sub.body !== undefined) {
      const value = fillValue(sub.body, answers);
      body = Buffer.from(typeof value === 'string' ? value : JSON.stringify(value));
      headers['content-type'] ??= 'application/json';
    }
    const response = await dispatch({
      method: sub.method,
      url,
      headers,
      body,
      signal: request.signal,
    });
    return {
      id: sub.id,
      status: response.status,
      headers: response.headers,
      body: decodeBody(response),
    };
  };
  const byId = new Map(requests.map((sub) => [sub.id, sub]));
  const start = (id: string): Promise<SubResponse> => {
    let promise = running.get(id);
    if (promise === undefined) {
      promise = run(byId.get(id) as SubRequest).then((answer) => {
        answers.set(id, answer);
        return answer;
      });
      running.set(id, promise);
    }
    return promise;
  };
  const responses = await Promise.all(requests.map((sub) => start(sub.id)));
  return jsonResponse(200, { responses });
}

function splitPath(url: string): string {
  const at = url.indexOf('?');
  return at === -1 ? url : url.slice(0, at);
}
