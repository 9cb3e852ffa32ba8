/**
 * The message handed to the sink: the decoded body, the raw JetStream
 * message, and settlement that happens once (the first of ack, nak or term
 * wins; the source hears of each, to count it and to know when a close may
 * end).
 */
import type { JsMsg } from 'nats';
import type { NatsMessage, NatsNakOptions } from './types.js';

/** What a settlement reports to the source. */
export type NatsSettlement =
  | { readonly outcome: 'ack' }
  | {
      readonly outcome: 'nak' | 'term';
      readonly reason: 'write' | 'decode' | 'close' | 'manual';
      readonly delayMs: number;
    };

/** The source's side of a message: told once, when it is settled. */
export type NatsSettler = (message: NatsMessageImpl<unknown>, settlement: NatsSettlement) => void;

/** The implementation behind {@link NatsMessage}. */
export class NatsMessageImpl<T> implements NatsMessage<T> {
  readonly body: T;
  readonly raw: JsMsg;
  readonly seq: number;
  readonly deliveries: number;
  #settled = false;
  readonly #settler: NatsSettler;

  constructor(raw: JsMsg, body: T, settler: NatsSettler) {
    this.raw = raw;
    this.body = body;
    this.seq = raw.seq;
    this.deliveries = raw.info.deliveryCount;
    this.#settler = settler;
  }

  /** Settled already (acked, nacked or terminated). */
  get settled(): boolean {
    return this.#settled;
  }

  ack(): void {
    if (this.#claim()) {
      this.raw.ack();
      this.#settler(this, { outcome: 'ack' });
    }
  }

  nak(options?: NatsNakOptions): void {
    this.nakFor('manual', options?.delayMs ?? 0);
  }

  term(reason?: string): void {
    this.termFor('manual', reason);
  }

  /** A nak on the source's behalf, with why. */
  nakFor(reason: 'write' | 'close' | 'manual', delayMs: number): void {
    if (this.#claim()) {
      const delay = Number.isFinite(delayMs) && delayMs > 0 ? Math.round(delayMs) : 0;
      this.raw.nak(delay);
      this.#settler(this, { outcome: 'nak', reason, delayMs: delay });
    }
  }

  /** A term on the source's behalf, with why. */
  termFor(reason: 'write' | 'decode' | 'manual', text?: string): void {
    if (this.#claim()) {
      this.raw.term(text);
      this.#settler(this, { outcome: 'term', reason, delayMs: 0 });
    }
  }

  #claim(): boolean {
    if (this.#settled) return false;
    this.#settled = true;
    return true;
  }
}
