/**
 * The running content hash of the input, so a checkpoint can store the hash of
 * bytes [0, offset) without reading the file twice.
 *
 * Node cannot serialise a hash's state, so the checkpoint stores the digest of
 * the prefix it covers. Every byte read goes through this transform; bytes are
 * fed to the hash only up to the offset asked for (a record boundary), and the
 * bytes past it are held until the next checkpoint asks for them: at most one
 * chunk of input plus the parser's lookahead is held. On resume the first
 * `skip` bytes are hashed and dropped, and their digest must equal the
 * checkpoint's, otherwise the input changed before the point reached.
 */
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { InputChangedError } from './errors.js';

export class Ledger extends Transform {
  private readonly hash: Hash = createHash('sha256');
  /** Absolute offset up to which `hash` has been fed. */
  private hashed = 0;
  /** Absolute offset of the next byte to arrive. */
  private position = 0;
  private readonly held: Buffer[] = [];
  private readonly skip: number;
  private readonly expected: string | undefined;
  private readonly describeInput: string;

  constructor(skip: number, expected: string | undefined, describeInput: string) {
    super();
    this.skip = skip;
    this.expected = expected;
    this.describeInput = describeInput;
    if (skip === 0) this.verify();
  }

  /** Bytes read so far, including the skipped prefix. */
  get bytesRead(): number {
    return this.position;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    let data = chunk;
    if (this.position < this.skip) {
      const take = Math.min(data.length, this.skip - this.position);
      this.hash.update(data.subarray(0, take));
      this.position += take;
      this.hashed += take;
      data = data.subarray(take);
      if (this.position === this.skip) {
        try {
          this.verify();
        } catch (error) {
          done(error as Error);
          return;
        }
      }
    }
    if (data.length > 0) {
      this.held.push(data);
      this.position += data.length;
      this.push(data);
    }
    done();
  }

  override _flush(done: TransformCallback): void {
    if (this.position < this.skip) {
      done(
        new InputChangedError(
          `import: ${this.describeInput} is shorter (${String(this.position)} bytes) than the checkpoint's offset ${String(this.skip)}; it changed since the last run. Pass restart to import it from the start.`,
        ),
      );
      return;
    }
    done();
  }

  /** The hex SHA-256 of bytes [0, offset); `offset` must not go backwards. */
  digestAt(offset: number): string {
    while (this.hashed < offset) {
      const head = this.held[0];
      if (head === undefined) throw new Error(`ledger: offset ${String(offset)} not read yet`);
      const take = Math.min(head.length, offset - this.hashed);
      this.hash.update(head.subarray(0, take));
      this.hashed += take;
      if (take === head.length) this.held.shift();
      else this.held[0] = head.subarray(take);
    }
    return this.hash.copy().digest('hex');
  }

  private verify(): void {
    if (this.expected === undefined) return;
    const actual = this.hash.copy().digest('hex');
    if (actual !== this.expected) {
      throw new InputChangedError(
        `import: the first ${String(this.skip)} bytes of ${this.describeInput} differ from those the checkpoint was written for (sha256 ${actual.slice(0, 12)}… vs ${this.expected.slice(0, 12)}…); it changed since the last run. Pass restart to import it from the start.`,
      );
    }
  }
}
