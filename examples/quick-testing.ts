/** packages/testing/README.md: time that advances only when the test says so. */
// #region usage
import { TestClock, FakeUpstream } from '@batchflight/testing';

const clock = new TestClock();
const upstream = new FakeUpstream<number, string>({ clock, latencyMs: 20 });
const answer = upstream.get(1);
await clock.runAll(); // time advances only when the test says so
await answer; // 'value:1', after 20 ms of TestClock time
// #endregion

export const results = { answer: await answer, now: clock.now() };
