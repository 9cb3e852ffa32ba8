// The names that moved to the core stay importable from this package, as the very same objects.
import { CodecError, RemoteError, jsonCodec } from 'batchflight';
import { errorFromShape, errorShape } from 'batchflight/kit';
import { DistributedFlight, distributedFlightChannels } from 'batchflight/singleflight';
import { expect, it } from 'vitest';
import * as redis from './index.js';

it('re-exports the moved engine, codec and errors as aliases of the core ones', () => {
  /* eslint-disable @typescript-eslint/no-deprecated -- what this test checks */
  expect(redis.DistributedFlight).toBe(DistributedFlight);
  expect(redis.distributedFlightChannels).toBe(distributedFlightChannels);
  expect(redis.jsonCodec).toBe(jsonCodec);
  expect(redis.errorShape).toBe(errorShape);
  expect(redis.errorFromShape).toBe(errorFromShape);
  expect(redis.CodecError).toBe(CodecError);
  expect(redis.RemoteError).toBe(RemoteError);
  const remote = redis.errorFromShape({ name: 'TypeError', message: 'm', code: 7 });
  expect(remote).toBeInstanceOf(RemoteError);
  expect(RemoteError.is(remote)).toBe(true);
  /* eslint-enable @typescript-eslint/no-deprecated */
});
