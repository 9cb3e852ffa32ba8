/** docs/circuit-breaker.md: a sampling breaker restored from a snapshot, on a stand-in handler. */
import { toContext, type CallContext } from 'batchflight/core';

interface User {
  readonly id: number;
}
const fetchUser = async (id: number, _ctx: CallContext): Promise<User> => {
  await Promise.resolve();
  return { id };
};
export const logged: string[] = [];
const log = { warn: (message: string) => logged.push(message) };
const savedSnapshot = circuitBreaker({}).toJSON(); // a closed circuit, as saved before a restart

// #region usage
import { circuitBreaker, sampling, CircuitOpenError } from 'batchflight/circuit-breaker';

const breaker = circuitBreaker({
  name: 'users',
  policy: sampling({ threshold: 0.5, windowMs: 10_000, minimumCalls: 20 }),
  halfOpenAfterMs: 5_000,
  halfOpenProbes: 2,
  failureOn: (error) => (error as { status?: number }).status !== 404,
  initialState: savedSnapshot, // from breaker.toJSON(), e.g. kept across a restart
});
breaker.onStateChange(({ name, from, to }) => log.warn(`${name} circuit ${from} -> ${to}`));
const getUser = breaker.wrap(fetchUser); // a Handler<number, User>, typed by fetchUser
{
  using _hold = breaker.isolate(); // maintenance: held open until disposed
  await getUser(1, toContext()).catch((error: unknown) => CircuitOpenError.is(error)); // refused
}
// #endregion

export const results = { user: await getUser(2, toContext()), state: breaker.state };
