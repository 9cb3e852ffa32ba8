/**
 * Wake-ups. Every statement that makes jobs claimable sends
 * `pg_notify('<schema>:jobs', …)` (delivered at commit; the `note` fragment of
 * `sql/fragments.sql`, with the channel and this instance as parameters);
 * `onEnqueued` listeners are served by one dedicated LISTEN connection that
 * reconnects with backoff, and by a direct in-process emit for this
 * instance's own enqueues. Polling by the worker stays the fallback.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { type Clock, type Subscription } from 'batchflight/core';
import { Listeners } from 'batchflight/kit';
import { type EnqueuedEvent } from 'batchflight/jobs';
import { enqueuedEvents } from 'batchflight/kit';

/** The LISTEN side of one store, and the tags its NOTIFYs carry. */
export class Notifier {
  /** The NOTIFY channel of the schema. */
  readonly channel: string;
  /** This store instance's tag in its notifications (its own are emitted in-process). */
  readonly instance = randomBytes(8).toString('hex');
  readonly #enqueued = new Listeners<EnqueuedEvent>();
  readonly #clientConfig: pg.ClientConfig;
  readonly #clock: Clock;
  readonly #reconnectDelayMs: number;
  #listening = false;
  #closed = false;
  #client: pg.Client | undefined;
  #retry: NodeJS.Timeout | undefined;

  /** Opens no connection until the first subscription. */
  constructor(
    channel: string,
    clientConfig: pg.ClientConfig,
    clock: Clock,
    reconnectDelayMs: number,
  ) {
    this.channel = channel;
    this.#clientConfig = clientConfig;
    this.#clock = clock;
    this.#reconnectDelayMs = reconnectDelayMs;
  }

  /** The parameters the `note` fragment takes: the channel, then this instance's tag. */
  get params(): [string, string] {
    return [this.channel, this.instance];
  }

  /**
   * Subscribes to wake-ups; the first subscription opens the LISTEN
   * connection. After it reconnects (notifications may have been missed) one
   * event with queue `'*'` and count 0 is emitted so listeners claim once.
   */
  subscribe(listener: (event: EnqueuedEvent) => void): Subscription {
    const sub = this.#enqueued.add(listener);
    if (!this.#listening && !this.#closed) {
      this.#listening = true;
      this.#connect(this.#reconnectDelayMs, false);
    }
    return sub;
  }

  /** Emits, in this process, the wake-ups of the jobs (rows) this instance made claimable. */
  emitLocal<R extends { readonly queue: string }>(
    rows: readonly R[],
    runAtOf: (row: R) => string | number,
  ): void {
    if (!this.#enqueued.active || rows.length === 0) return;
    for (const e of enqueuedEvents(rows, runAtOf)) this.#enqueued.emit(e);
  }

  /** Drops the listeners and ends the LISTEN connection. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#enqueued.clear();
    if (this.#retry !== undefined) clearTimeout(this.#retry);
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => undefined);
  }

  #connect(delayMs: number, reconnect: boolean): void {
    if (this.#closed) return;
    const client = new pg.Client(this.#clientConfig);
    let failed = false;
    const retry = (): void => {
      if (failed || this.#closed) return;
      failed = true;
      if (this.#client === client) this.#client = undefined;
      client.end().catch(() => undefined);
      this.#retry = setTimeout(() => {
        this.#connect(Math.min(delayMs * 2, 5_000), true);
      }, delayMs);
      this.#retry.unref();
    };
    client.on('error', retry);
    client.on('end', retry);
    client.on('notification', (msg) => {
      if (msg.channel !== this.channel || msg.payload === undefined) return;
      try {
        const note = JSON.parse(msg.payload) as { s: string; q: string; n: number; r: number };
        if (note.s === this.instance) return; // already emitted in-process
        this.#enqueued.emit({ queue: note.q, count: note.n, runAt: note.r });
      } catch {
        // A foreign payload on our channel: ignore it.
      }
    });
    this.#client = client;
    client
      .connect()
      .then(() => client.query(`LISTEN "${this.channel}"`))
      .then(() => {
        if (this.#closed) {
          failed = true;
          return client.end();
        }
        if (reconnect) this.#enqueued.emit({ queue: '*', count: 0, runAt: this.#clock.now() });
        return undefined;
      })
      .catch(retry);
  }
}
