// Request templates with generated fields, as the seed systems' JMeter scripts had them: unique
// emails, a random failure flag with a given ratio, a uuid. A template is compiled once; building
// request `index` is then a pure function of (template, runId, seed, stream, index): each request
// reseeds the PRNG from its own index, so the same seed gives the same requests in any order.
//
// Placeholders, in the path, header values and any string in the body:
//   {{index}}       the request's index in its stream (a number when it is the whole body value)
//   {{runId}}       the run's id
//   {{uuid}}        a v4-format uuid drawn from the seeded PRNG; the same value everywhere in one request
//   {{email}}       lab-<tag>-<index>@example.com, tag = a hash of run id and stream: unique per
//                   request within a run, short enough for any address check
//   {{chance:0.2}}  true with probability 0.2 (each occurrence draws on its own)
// A body string that is exactly one placeholder becomes that placeholder's type (number, boolean);
// anything else is string interpolation.
import { hashString, Random } from './random.ts';

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export interface RequestTemplate {
  method: string;
  /** Starts with '/'; may hold placeholders. */
  path: string;
  /** A JSON value, sent as JSON (content-type application/json unless the headers say otherwise). */
  body?: unknown;
  headers?: Record<string, string>;
  /** Whether the request changes state, for the lab's command accounting. Default false. */
  command?: boolean;
}

export interface TemplateContext {
  runId: string;
  seed: number;
  /** The load stream's name: part of {{email}} so two streams of one run never share an address. */
  stream: string;
}

export interface BuiltRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string | null;
  command: boolean;
}

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
/** Ids that can sit in an email's local part and a URL path unescaped. */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

type Token = { kind: 'index' | 'runId' | 'uuid' | 'email' } | { kind: 'chance'; probability: number };
/** A string split into literal text and placeholders. */
type Parts = (string | Token)[];
type Node =
  | { type: 'literal'; value: JsonValue }
  | { type: 'token'; token: Token }
  | { type: 'string'; parts: Parts }
  | { type: 'array'; items: Node[] }
  | { type: 'object'; entries: [string, Node][] };

const PLACEHOLDER = /\{\{\s*([A-Za-z]+)(?::([^}]*))?\s*\}\}/g;

/** What compiling found: every problem, and which placeholders the template uses. */
interface Found {
  problems: string[];
  uuid: boolean;
}

function parse(text: string, where: string, found: Found): Parts {
  const { problems } = found;
  const parts: Parts = [];
  let last = 0;
  for (const match of text.matchAll(PLACEHOLDER)) {
    if (match.index > last) parts.push(text.slice(last, match.index));
    last = match.index + match[0].length;
    const [, name, argument] = match;
    if (name === 'chance') {
      const probability = Number(argument?.trim());
      if (argument === undefined || argument.trim() === '' || !(probability >= 0 && probability <= 1)) {
        problems.push(`${where}: {{chance:p}} needs a probability 0..1, got ${match[0]}`);
      }
      parts.push({ kind: 'chance', probability });
    } else if (
      (name === 'index' || name === 'runId' || name === 'uuid' || name === 'email') &&
      argument === undefined
    ) {
      parts.push({ kind: name });
      if (name === 'uuid') found.uuid = true;
    } else {
      problems.push(`${where}: unknown placeholder ${match[0]} (index, runId, uuid, email, chance:p)`);
    }
  }
  if (last < text.length) parts.push(text.slice(last));
  return parts;
}

function compileValue(value: unknown, where: string, found: Found): Node {
  if (typeof value === 'string') {
    const parts = parse(value, where, found);
    if (parts.length === 1 && typeof parts[0] !== 'string') return { type: 'token', token: parts[0]! };
    return parts.some((part) => typeof part !== 'string') ? { type: 'string', parts } : { type: 'literal', value };
  }
  if (Array.isArray(value)) {
    const items = value.map((item, i) => compileValue(item, `${where}[${i}]`, found));
    return items.every((item) => item.type === 'literal')
      ? { type: 'literal', value: value as JsonValue }
      : { type: 'array', items };
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).map(([key, item]): [string, Node] => [
      key,
      compileValue(item, `${where}.${key}`, found),
    ]);
    return entries.every(([, item]) => item.type === 'literal')
      ? { type: 'literal', value: value as JsonValue }
      : { type: 'object', entries };
  }
  if ((typeof value === 'number' && Number.isFinite(value)) || typeof value === 'boolean' || value === null) {
    return { type: 'literal', value };
  }
  found.problems.push(`${where}: ${typeof value} is not a JSON value`);
  return { type: 'literal', value: null };
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Turns a template into `build(index)`; throws a RangeError naming every problem at once. */
export function compileTemplate(template: RequestTemplate, context: TemplateContext): (index: number) => BuiltRequest {
  const found: Found = { problems: [], uuid: false };
  const { problems } = found;
  const method = String(template.method ?? '').toUpperCase();
  if (!METHODS.has(method)) problems.push(`method must be one of ${[...METHODS].join(', ')}, not ${template.method}`);
  if (typeof template.path !== 'string' || !template.path.startsWith('/')) problems.push('path must start with /');
  if (!ID_PATTERN.test(context.runId)) problems.push(`runId ${context.runId} must match ${ID_PATTERN}`);
  if (!ID_PATTERN.test(context.stream)) problems.push(`stream name ${context.stream} must match ${ID_PATTERN}`);
  const path = parse(String(template.path ?? ''), 'path', found);
  const headers = Object.entries(template.headers ?? {}).map(([name, value]): [string, Parts] => [
    name.toLowerCase(),
    parse(String(value), `headers.${name}`, found),
  ]);
  const body = template.body === undefined ? undefined : compileValue(template.body, 'body', found);
  if (problems.length > 0) throw new RangeError(`invalid request template: ${problems.join('; ')}`);
  if (body !== undefined && !headers.some(([name]) => name === 'content-type')) {
    headers.push(['content-type', ['application/json']]);
  }
  const fixedBody = body?.type === 'literal' ? JSON.stringify(body.value) : undefined;
  const command = template.command === true;
  const uuidUsed = found.uuid;

  const { runId, seed, stream } = context;
  const runWord = hashString(`${runId}\0${stream}`);
  // A short tag of run and stream keeps the local part well under the 64 characters an address allows.
  const runTag = (runWord >>> 0).toString(36).padStart(7, '0');
  const random = new Random();
  let index = 0;
  let uuid: string | undefined;

  function makeUuid(): string {
    let hex = '';
    for (let word = 0; word < 4; word++) {
      let bits = random.uint32();
      if (word === 1) bits = (bits & 0xffff0fff) | 0x4000; // version 4
      if (word === 2) bits = (bits & 0x3fffffff) | 0x80000000; // RFC 4122 variant
      hex += HEX[bits >>> 24]! + HEX[(bits >>> 16) & 255]! + HEX[(bits >>> 8) & 255]! + HEX[bits & 255]!;
    }
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  function value(token: Token): string | number | boolean {
    switch (token.kind) {
      case 'index':
        return index;
      case 'runId':
        return runId;
      case 'email':
        return `lab-${runTag}-${index}@example.com`;
      case 'uuid':
        return uuid!;
      case 'chance':
        return random.next() < token.probability;
    }
  }

  const render = (parts: Parts) => {
    let text = '';
    for (const part of parts) text += typeof part === 'string' ? part : String(value(part));
    return text;
  };

  function evaluate(node: Node): JsonValue {
    switch (node.type) {
      case 'literal':
        return node.value;
      case 'token':
        return value(node.token);
      case 'string':
        return render(node.parts);
      case 'array':
        return node.items.map(evaluate);
      case 'object': {
        const out: { [key: string]: JsonValue } = {};
        for (const [key, item] of node.entries) out[key] = evaluate(item);
        return out;
      }
    }
  }

  return function buildRequest(requestIndex: number): BuiltRequest {
    index = requestIndex;
    uuid = undefined;
    // Index split in two words so indexes past 2^32 still seed distinct states.
    random.seed(seed, requestIndex, Math.floor(requestIndex / 4294967296), runWord);
    // uuid before anything else: its value must not depend on where it appears in the template.
    if (uuidUsed) uuid = makeUuid();
    // Draw order (for chance flags): path, headers, body.
    const builtPath = render(path);
    const built: Record<string, string> = {};
    for (const [name, parts] of headers) built[name] = render(parts);
    return {
      method,
      path: builtPath,
      headers: built,
      body: fixedBody ?? (body === undefined ? null : JSON.stringify(evaluate(body))),
      command,
    };
  };
}
