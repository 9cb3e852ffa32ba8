/** One problem found in a configuration: where it is, what was there, what was expected. */
export interface ConfigProblem {
  /** The path inside the document, as `routes[0].timeoutMs` (empty for the document itself). */
  readonly path: string;
  /** `line:column` (1-based) of the value in the source text, when known. */
  readonly position?: string;
  /** The value found, as the document holds it (`undefined` when it is missing). */
  readonly value?: unknown;
  /** What the schema expects there, in words. */
  readonly expected: string;
}

/**
 * A configuration that cannot be used. The message names the source (a file name or a label the
 * caller gave), then one line per problem with the path inside it, the value found and the
 * contract, so a wrong setting is found without reading the schema:
 *
 * ```text
 * gateway.yaml: 2 problems
 *   gateway.yaml:7:16 routes[0].timeoutMs: got "5s"; expected a number
 *   gateway.yaml:9:5 routes[0]: unknown key "cahce"; expected one of method, path, upstream, policies
 * ```
 */
export class ConfigError extends Error {
  /** Stable code for programmatic checks. */
  readonly code = 'ERR_BATCHFLIGHT_CONFIG';
  override readonly name = 'ConfigError';

  constructor(
    /** The file name or label of the configuration. */
    readonly source: string,
    /** Every problem found, in document order. */
    readonly problems: readonly ConfigProblem[],
    options?: { cause?: unknown },
  ) {
    super(formatProblems(source, problems), options);
  }

  /** True for a ConfigError from any copy of this package (checks the code, not the class). */
  static is(error: unknown): error is ConfigError {
    return (
      typeof error === 'object' &&
      error !== null &&
      (error as { code?: unknown }).code === 'ERR_BATCHFLIGHT_CONFIG'
    );
  }
}

function formatProblems(source: string, problems: readonly ConfigProblem[]): string {
  const lines = problems.map((problem) => {
    const where = problem.position === undefined ? source : `${source}:${problem.position}`;
    const path = problem.path === '' ? '' : ` ${problem.path}`;
    const got = 'value' in problem ? `got ${echo(problem.value)}; ` : '';
    return `${where}${path}: ${got}expected ${problem.expected}`;
  });
  if (lines.length === 1) return lines[0] ?? source;
  return `${source}: ${problems.length} problems\n${lines.map((line) => `  ${line}`).join('\n')}`;
}

/** A short, readable echo of a value: JSON where it has one, cut at 80 characters. */
export function echo(value: unknown): string {
  if (value === undefined) return 'nothing';
  let text: string;
  try {
    // JSON.stringify gives undefined for functions and symbols, which its type does not say.
    const json = JSON.stringify(value) as string | undefined;
    text = typeof value === 'bigint' ? `${value}n` : (json ?? describe(value));
  } catch {
    text = describe(value);
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

// A value JSON cannot show (a function, a symbol, a cycle): its kind and, where it has one, its name.
function describe(value: unknown): string {
  if (typeof value === 'function') return `a function ${value.name || '(anonymous)'}`.trim();
  if (typeof value === 'symbol') return value.toString();
  if (typeof value === 'object' && value !== null)
    return Object.getPrototypeOf(value) === null
      ? 'an object without prototype'
      : `a ${(value as { constructor: { name: string } }).constructor.name}`;
  return typeof value;
}
