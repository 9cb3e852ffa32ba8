import { describe, expect, expectTypeOf, it } from 'vitest';

import { stack, toContext, type CallContext, type Handler, type Layer } from '../core/index.js';
import { bulkhead } from '../bulkhead/index.js';
import { circuitBreaker } from '../circuit-breaker/index.js';
import { fallback } from '../fallback/index.js';
import { hedge } from '../hedge/index.js';
import { rateLimit } from '../rate-limit/index.js';
import { retry } from '../retry/index.js';
import { timeout } from './index.js';

// Type-level tests (issue 18 finding 13): `npx tsc -p tsconfig.typecheck.json`
// checks them; the bodies also run. Layers built without type arguments must
// compose with typed handlers, and a handler no layer can take must not compile.
interface User {
  readonly id: number;
}
interface Req {
  readonly userId: string;
}
const getUser: Handler<number, User> = async (id) => ({ id });
const getDoc = async (path: string, _ctx: CallContext): Promise<string> => path;
const handle: Handler<Req, string> = async (req) => req.userId;

describe('stack() and generic layers', () => {
  it('a policy built without type arguments wraps a typed handler, alone or in a stack', async () => {
    const guarded = stack(timeout({ ms: 500 })).wrap(getUser);
    expectTypeOf(guarded).toEqualTypeOf<Handler<number, User>>();
    expectTypeOf(timeout({ ms: 500 }).wrap(getUser)).toEqualTypeOf<Handler<number, User>>();

    const everything = stack(
      retry({ maxAttempts: 2 }),
      circuitBreaker(),
      bulkhead({ maxConcurrent: 4 }),
      rateLimit({ rate: 100 }),
      hedge({ afterMs: 50 }),
      timeout({ ms: 500 }),
    ).wrap(getUser);
    expectTypeOf(everything).toEqualTypeOf<Handler<number, User>>();
    await everything(1, toContext());

    // One policy object serves handlers of different types.
    const shared = retry();
    expectTypeOf(shared.wrap(getUser)).toEqualTypeOf<Handler<number, User>>();
    expectTypeOf(shared.wrap(getDoc)).toEqualTypeOf<Handler<string, string>>();
  });

  it('typed layers fix the types: a concrete Layer, a keyed rate limit and a fallback', async () => {
    const cacheLike: Layer<string, string> = { wrap: (next) => next };
    const api = rateLimit({ rate: 10 });
    const getItem = stack(cacheLike, api).wrap(getDoc);
    expectTypeOf(getItem).toEqualTypeOf<Handler<string, string>>();

    const perUser = rateLimit({ rate: 5, key: (req: Req) => req.userId });
    expectTypeOf(stack(perUser, timeout({ ms: 1_000 })).wrap(handle)).toEqualTypeOf<
      Handler<Req, string>
    >();
    // @ts-expect-error -- the limiter's key reads a Req; a number handler cannot be wrapped
    stack(perUser, timeout({ ms: 1_000 })).wrap(getUser);

    const orStale = fallback({ compute: (_error, id: number): User => ({ id: -id }) });
    const resilient = stack(orStale, retry(), timeout({ ms: 500 })).wrap(getUser);
    expectTypeOf(resilient).toEqualTypeOf<Handler<number, User>>();
    // @ts-expect-error -- the substitute is a User, the handler answers strings
    stack(orStale, retry()).wrap(getDoc);

    await getItem('a', toContext());
    await api.close();
    await perUser.close();
  });

  it('a handler written inline gets the types the layers fix', async () => {
    const typedLayer: Layer<number, User> = { wrap: (next) => next };
    const inline = stack(retry(), typedLayer, timeout({ ms: 500 })).wrap(async (id, ctx) => {
      expectTypeOf(id).toEqualTypeOf<number>();
      expectTypeOf(ctx).toEqualTypeOf<CallContext>();
      return { id };
    });
    expectTypeOf(inline).parameter(0).toEqualTypeOf<number>();
    const asUserHandler: Handler<number, User> = inline;
    const perUser = rateLimit({ rate: 5, key: (req: Req) => req.userId });
    const byUser = stack(perUser, timeout({ ms: 1_000 })).wrap(async (req) => req.userId);
    expectTypeOf(byUser).toEqualTypeOf<Handler<Req, string>>();
    await expect(asUserHandler(3, toContext())).resolves.toEqual({ id: 3 });
    await perUser.close();
  });

  it('explicit type arguments still work, and a stack is a Layer of the types it wraps', () => {
    const typed = stack<number, User>(timeout<number, User>({ ms: 500 }), retry());
    expectTypeOf(typed).toEqualTypeOf<Layer<number, User>>();
    const asLayer: Layer<number, User> = stack(timeout({ ms: 500 }));
    expectTypeOf(asLayer.wrap(getUser)).toEqualTypeOf<Handler<number, User>>();
    const nested = stack(stack(retry(), circuitBreaker()), timeout({ ms: 1 })).wrap(getUser);
    expectTypeOf(nested).toEqualTypeOf<Handler<number, User>>();
  });
});
