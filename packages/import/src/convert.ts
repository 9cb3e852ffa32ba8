/**
 * Value conversion from the text of a CSV field (or an NDJSON value) to what
 * the target column holds. A converter returns the value to bind, or throws a
 * string reason, which becomes the rejected row's reason.
 */

/** The kinds of column the importer converts to; anything else is passed as text for the database to check. */
export type ColumnKind =
  | 'int16'
  | 'int32'
  | 'int64'
  | 'float'
  | 'numeric'
  | 'bool'
  | 'date'
  | 'timestamp'
  | 'json'
  | 'uuid'
  | 'text';

/** A target column: its name, the database's type name and the kind it converts to. */
export interface Column {
  readonly name: string;
  readonly type: string;
  readonly kind: ColumnKind;
}

/** Maps a PostgreSQL `format_type` name to a kind. */
export function pgKind(type: string): ColumnKind {
  const t = type.toLowerCase();
  if (t === 'smallint') return 'int16';
  if (t === 'integer') return 'int32';
  if (t === 'bigint') return 'int64';
  if (t === 'real' || t === 'double precision') return 'float';
  if (t.startsWith('numeric')) return 'numeric';
  if (t === 'boolean') return 'bool';
  if (t === 'date') return 'date';
  if (t.startsWith('timestamp')) return 'timestamp';
  if (t === 'json' || t === 'jsonb') return 'json';
  if (t === 'uuid') return 'uuid';
  return 'text';
}

/** Maps a SQLite declared type to a kind, following SQLite's affinity rules where they apply. */
export function sqliteKind(type: string): ColumnKind {
  const t = type.toUpperCase();
  if (t.includes('BOOL')) return 'bool';
  if (t.includes('INT')) return 'int64';
  if (t.includes('CHAR') || t.includes('CLOB') || t.includes('TEXT')) return 'text';
  if (t.includes('REAL') || t.includes('FLOA') || t.includes('DOUB')) return 'float';
  if (t.startsWith('DATETIME') || t.startsWith('TIMESTAMP')) return 'timestamp';
  if (t === 'DATE') return 'date';
  if (t.includes('JSON')) return 'json';
  if (t.includes('DEC') || t.includes('NUMERIC')) return 'numeric';
  return 'text';
}

const INTEGER = /^[+-]?\d+$/;
const NUMERIC = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const TRUE = new Set(['true', 't', '1', 'yes', 'y', 'on']);
const FALSE = new Set(['false', 'f', '0', 'no', 'n', 'off']);
const ISO_TIMESTAMP =
  /^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?\s*(Z|[+-]\d{2}(:?\d{2})?)?$/i;
const NUMBER_RANGES = {
  int16: [-32768, 32767],
  int32: [-2147483648, 2147483647],
  int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
} as const;
const RANGES = {
  int16: [-32768n, 32767n],
  int32: [-2147483648n, 2147483647n],
  int64: [-9223372036854775808n, 9223372036854775807n],
} as const;

/** A value that does not convert to its column's type; the message is the rejected row's reason. */
export class ConvertError extends Error {
  override name = 'ConvertError';
}

/** The canonical text of a value, or null. Converted values are text so both targets bind them the same way. */
export type Converted = string | null;

/**
 * Converts one input value for `column`. Empty text and null are SQL NULL (as
 * in COPY's CSV format). Throws a {@link ConvertError} when the value does not convert.
 */
export function convert(column: Column, raw: unknown): Converted {
  if (raw === null || raw === undefined || raw === '') return null;
  if (column.kind === 'json') {
    if (typeof raw === 'string') {
      try {
        JSON.parse(raw);
      } catch {
        throw new ConvertError(
          `column ${column.name} (${column.type}): ${JSON.stringify(clip(raw))} is not JSON`,
        );
      }
      return raw;
    }
    return JSON.stringify(raw);
  }
  if (typeof raw === 'object') {
    throw new ConvertError(
      `column ${column.name} (${column.type}): expected a scalar, got ${clip(JSON.stringify(raw))}`,
    );
  }
  // NDJSON numbers and booleans: JSON's own text is the value's text.
  const text = typeof raw === 'string' ? raw : JSON.stringify(raw);
  // Hot path: a million rows of 8 columns is 8 million calls, so no closures, no BigInt
  // below 2^53 and no Date.parse for ISO 8601 text.
  switch (column.kind) {
    case 'int16':
    case 'int32':
    case 'int64': {
      const t = text.trim();
      if (!INTEGER.test(t)) bad(column, text, 'an integer');
      if (t.length <= 15) {
        const [lo, hi] = NUMBER_RANGES[column.kind];
        const n = Number(t);
        if (n < lo || n > hi) bad(column, text, `an integer in [${String(lo)}, ${String(hi)}]`);
        return t.startsWith('+') ? t.slice(1) : t;
      }
      const [lo, hi] = RANGES[column.kind];
      const n = BigInt(t);
      if (n < lo || n > hi) bad(column, text, `an integer in [${String(lo)}, ${String(hi)}]`);
      return n.toString();
    }
    case 'float': {
      const t = text.trim();
      if (t === 'NaN' || t === 'Infinity' || t === '-Infinity') return t;
      if (!NUMERIC.test(t)) bad(column, text, 'a number');
      return t;
    }
    case 'numeric': {
      const t = text.trim();
      if (!NUMERIC.test(t)) bad(column, text, 'a decimal number');
      return t;
    }
    case 'bool': {
      const t = text.trim().toLowerCase();
      if (TRUE.has(t)) return 'true';
      if (FALSE.has(t)) return 'false';
      return bad(column, text, 'a boolean (true/false, t/f, 1/0, yes/no, on/off)');
    }
    case 'date': {
      const m = DATE.exec(text.trim());
      if (m === null || Number.isNaN(Date.parse(`${text.trim()}T00:00:00Z`)))
        bad(column, text, 'a date (YYYY-MM-DD)');
      return text.trim();
    }
    case 'timestamp': {
      const t = text.trim();
      if (!ISO_TIMESTAMP.test(t) && Number.isNaN(Date.parse(t))) {
        bad(column, text, 'a timestamp (ISO 8601)');
      }
      return text.trim();
    }
    case 'uuid':
      if (!UUID.test(text.trim())) bad(column, text, 'a UUID');
      return text.trim();
    case 'text':
      return text;
  }
}

function bad(column: Column, text: string, what: string): never {
  throw new ConvertError(
    `column ${column.name} (${column.type}): ${JSON.stringify(clip(text))} is not ${what}`,
  );
}

function clip(text: string): string {
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
