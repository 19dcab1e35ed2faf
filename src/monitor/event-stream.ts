// The `text/event-stream` wire format both ends of the monitor's feed speak: formatting on the server
// (routes.ts), incremental parsing on the client (feed.ts). Parsing follows the WHATWG rules: lines
// end in LF, CRLF or CR (a CRLF may be split across chunks); `:` starts a comment; `event:` names
// the next event; `data:` lines are joined with LF; a blank line dispatches; one space after the
// colon is dropped; an event with no data is not dispatched.

/** How often the server writes a `: ping` comment, so a client notices a dead connection. */
export const KEEPALIVE_MS = 2_000;

export interface ServerSentEvent {
  /** `message` when the event named none. */
  event: string;
  data: string;
}

/** One event as written on the wire (data is JSON, one line per line of it). */
export function formatEvent(event: string, data: unknown): string {
  const lines = JSON.stringify(data).split('\n');
  return `event: ${event}\n${lines.map((line) => `data: ${line}\n`).join('')}\n`;
}

export function formatComment(text: string): string {
  return `: ${text}\n\n`;
}

export interface EventStreamParser {
  /** Feeds the next decoded chunk of the stream (any size, split anywhere). */
  push(chunk: string): void;
}

export function createEventStreamParser(
  onEvent: (event: ServerSentEvent) => void,
  onComment?: (text: string) => void,
): EventStreamParser {
  let buffer = '';
  let started = false;
  // The previous chunk ended in CR: an LF starting this one belongs to that line end.
  let skipLf = false;
  let eventName = '';
  let data: string[] = [];
  const lineEnd = /\r\n|\r|\n/g;

  function line(text: string) {
    if (text === '') {
      if (data.length > 0) onEvent({ event: eventName || 'message', data: data.join('\n') });
      eventName = '';
      data = [];
      return;
    }
    if (text.startsWith(':')) {
      onComment?.(text.slice(1).replace(/^ /, ''));
      return;
    }
    const colon = text.indexOf(':');
    const field = colon === -1 ? text : text.slice(0, colon);
    const value = colon === -1 ? '' : text.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') eventName = value;
    else if (field === 'data') data.push(value);
    // id and retry are not used: the feed resyncs by snapshot and keeps its own retry policy.
  }

  return {
    push(chunk) {
      if (chunk === '') return;
      if (!started) {
        started = true;
        if (chunk.charCodeAt(0) === 0xfeff) chunk = chunk.slice(1);
      }
      if (skipLf && chunk.startsWith('\n')) chunk = chunk.slice(1);
      skipLf = false;
      buffer += chunk;
      let start = 0;
      lineEnd.lastIndex = 0;
      for (let match = lineEnd.exec(buffer); match !== null; match = lineEnd.exec(buffer)) {
        const end = match.index;
        line(buffer.slice(start, end));
        if (buffer[end] === '\r' && end + 1 === buffer.length) skipLf = true;
        start = end + match[0].length;
      }
      buffer = buffer.slice(start);
    },
  };
}
