// Configuration files in YAML checked against a JSON Schema (the topology, experiments): either the
// parsed value comes back, or one AppError(CONFIG_INVALID) naming every problem at once as
// `file:line:col field.path: message`, so a user fixes them in one pass.
import type { ErrorObject, ValidateFunction } from 'ajv';
import { type Document, isAlias, isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import { AppError, KitErrors } from './errors.ts';

export interface ConfigProblem {
  file: string;
  /** 1-based. */
  line: number;
  /** 1-based. */
  column: number;
  /** Dotted field path, e.g. services.users-commands.instances; empty for the document itself. */
  path: string;
  message: string;
}

export type Segment = string | number;
export interface Located {
  segments: Segment[];
  /** Point at the key rather than the value: for unknown fields and bad names. */
  onKey?: boolean;
  /** Report `path` as this instead of `segments` (a missing field is reported at its parent). */
  reportAs?: Segment[];
  message: string;
}

export interface ParseOptions<T> {
  /** Where the text came from, for messages. */
  file: string;
  validate: ValidateFunction<T>;
  /** Rules the schema cannot state; runs even when the schema failed. */
  crossCheck?: (raw: unknown) => Located[];
  /** What the whole document must be, for the message when it is not a map. */
  rootHint: string;
}

/** Parses and validates `text`; throws AppError(CONFIG_INVALID) with every problem located. */
export function parseValidated<T>(text: string, options: ParseOptions<T>): T {
  const { file, validate } = options;
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length > 0) {
    // The tree after a syntax error is a guess, so schema errors on it would mostly be noise.
    throw invalid(
      doc.errors.map((error) => {
        const { line, col } = lineCounter.linePos(error.pos[0]);
        return { file, line, column: col, path: '', message: `YAML: ${error.message}` };
      }),
    );
  }
  const at = (found: Located): ConfigProblem => {
    const { line, col } = lineCounter.linePos(offsetOf(doc, found.segments, found.onKey ?? false));
    return { file, line, column: col, path: (found.reportAs ?? found.segments).join('.'), message: found.message };
  };
  const raw: unknown = doc.toJS();
  const valid = validate(raw);
  const problems = [
    ...(valid ? [] : (validate.errors ?? []).flatMap((error) => describeSchemaError(error, options.rootHint))),
    ...(options.crossCheck?.(raw) ?? []),
  ];
  if (!valid || problems.length > 0) throw invalid(problems.map(at));
  return raw as T;
}

/** Turns one ajv error into a located, human message; [] for errors another one already explains. */
function describeSchemaError(error: ErrorObject, rootHint: string): Located[] {
  const segments: Segment[] = error.instancePath
    .split('/')
    .slice(1)
    .map((part) => part.replaceAll('~1', '/').replaceAll('~0', '~'));
  const schema = error.parentSchema ?? {};
  const got = ` (got ${show(error.data)})`;

  // An invalid map key: ajv sets propertyName on the inner error and adds a vague "propertyNames" one.
  if (error.propertyName !== undefined) {
    const name = error.propertyName;
    return [
      { segments: [...segments, name], onKey: true, message: `invalid name "${name}": must be ${schema.description}` },
    ];
  }

  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'if':
    case 'propertyNames':
      return [];
    case 'required': {
      const missing = String(params.missingProperty);
      return [{ segments, reportAs: [...segments, missing], message: 'is required' }];
    }
    case 'additionalProperties': {
      const field = String(params.additionalProperty);
      const known = Object.keys((schema.properties as object | undefined) ?? {});
      const hint = suggest(field, known) || (known.length > 0 ? ` (known fields: ${known.join(', ')})` : '');
      return [{ segments: [...segments, field], onKey: true, message: `unknown field${hint}` }];
    }
    case 'type':
      if (segments.length === 0) {
        return [{ segments, message: `the file must be ${rootHint}${got}` }];
      }
      return [{ segments, message: `must be ${TYPE_NAMES[String(params.type)] ?? params.type}${got}` }];
    case 'enum':
      return [{ segments, message: `must be one of: ${(params.allowedValues as unknown[]).join(', ')}${got}` }];
    case 'const':
      return [{ segments, message: `must be ${schema.description ?? show(params.allowedValue)}${got}` }];
    case 'pattern':
      return [{ segments, message: `must be ${schema.description ?? `like ${params.pattern}`}${got}` }];
    case 'minimum':
      return [{ segments, message: `must be at least ${params.limit}${got}` }];
    case 'maximum':
      return [{ segments, message: `must be at most ${params.limit}${got}` }];
    case 'minLength':
      return [{ segments, message: 'must not be empty' }];
    case 'minProperties':
    case 'maxProperties': {
      const options = Object.keys((schema.properties as object | undefined) ?? {});
      if (schema.minProperties === 1 && schema.maxProperties === 1 && options.length > 0) {
        return [{ segments, message: `must have exactly one of: ${options.join(', ')}` }];
      }
      const bound = error.keyword === 'minProperties' ? 'at least' : 'at most';
      return [{ segments, message: `must have ${bound} ${params.limit} entr${params.limit === 1 ? 'y' : 'ies'}` }];
    }
    default:
      return [{ segments, message: error.message ?? error.keyword }];
  }
}

const TYPE_NAMES: Record<string, string> = {
  object: 'a map (key: value)',
  array: 'a list',
  string: 'a string',
  integer: 'a whole number',
  number: 'a number',
  boolean: 'true or false',
};

function show(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a map';
  const text = JSON.stringify(value);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

export /** ` (did you mean "x"?)` for a near miss, else ''. Near = at most 2 edits, enough for typos. */
function suggest(word: string, candidates: string[]): string {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of candidates) {
    const distance = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  return best === undefined ? '' : ` (did you mean "${best}"?)`;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length]!;
}

/**
 * Source offset of the YAML node at `segments` (keys of maps, indexes of lists). Walks as far as the
 * document goes and answers with the deepest node found, so a problem always gets a position.
 */
function offsetOf(doc: Document, segments: Segment[], onKey: boolean): number {
  let node: unknown = doc.contents;
  let offset = rangeStart(node) ?? 0;
  for (const [index, segment] of segments.entries()) {
    if (isAlias(node)) node = node.resolve(doc);
    let key: unknown;
    let next: unknown;
    if (isMap(node)) {
      const pair = node.items.find(
        (item) => String(isScalar(item.key) ? item.key.value : item.key) === String(segment),
      );
      if (pair === undefined) break;
      [key, next] = [pair.key, pair.value];
    } else if (isSeq(node)) {
      next = node.items[Number(segment)];
    } else break;
    const last = index === segments.length - 1;
    const start = last && onKey ? (rangeStart(key) ?? rangeStart(next)) : (rangeStart(next) ?? rangeStart(key));
    if (start === undefined) break;
    offset = start;
    node = next;
  }
  return offset;
}

function rangeStart(node: unknown): number | undefined {
  return (node as Node | null | undefined)?.range?.[0];
}

export function invalid(problems: ConfigProblem[]): AppError {
  const sorted = problems.toSorted((a, b) => a.line - b.line || a.column - b.column);
  const lines = sorted.map((p) => `${p.file}:${p.line}:${p.column} ${p.path ? `${p.path}: ` : ''}${p.message}`);
  return new AppError(400, KitErrors.CONFIG_INVALID, lines.join('\n'), { details: { problems: sorted } });
}
