// sse.js — the event-stream reader behind api.js's streams (re-exported there). Owns: a
// spec-exact server-sent-events parser (fetch + POST, which EventSource cannot do) and reading
// a fetch Response as events. Must not: talk HTTP itself, touch the DOM or hold UI state.

/** @typedef {import('./types.js').SSEEvent} SSEEvent */
/** @typedef {import('./types.js').StreamEvent} StreamEvent */

/**
 * WHATWG event-stream parser: LF, CR and CRLF line ends (also split across chunks), comments,
 * one leading space stripped, multi-line data joined with "\n", a trailing event without its
 * blank line is discarded at the end of the stream. Long lines are kept as pieces and joined
 * once, so a multi-megabyte base64 line costs linear time.
 */
export class SSEParser {
  /** @param {(event: SSEEvent) => void} onEvent called once per dispatched event */
  constructor(onEvent) {
    this.onEvent = onEvent;
    /** @type {string[]} the current line so far, in pieces */
    this.pieces = [];
    this.afterCR = false;
    this.started = false;
    this.lastEventId = '';
    /** @type {number|null} the stream's reconnection time (ms), if it sent one */
    this.retry = null;
    this.resetEvent();
  }

  resetEvent() {
    this.eventType = '';
    /** @type {string[]} */
    this.data = [];
  }

  /** @param {string} text the next decoded chunk of the stream */
  feed(text) {
    if (!text) return;
    let start = 0;
    if (!this.started) {
      this.started = true;
      if (text.charCodeAt(0) === 0xfeff) start = 1;
    }
    if (this.afterCR) {
      this.afterCR = false;
      if (text.charCodeAt(start) === 10) start += 1;
    }
    const ends = /[\r\n]/g;
    ends.lastIndex = start;
    let match;
    while ((match = ends.exec(text)) !== null) {
      const at = match.index;
      const tail = text.slice(start, at);
      const line = this.pieces.length ? this.pieces.join('') + tail : tail;
      this.pieces = [];
      start = at + 1;
      if (text.charCodeAt(at) === 13) {
        if (start < text.length) {
          if (text.charCodeAt(start) === 10) start += 1;
        } else {
          this.afterCR = true;
        }
      }
      ends.lastIndex = start;
      this.line(line);
    }
    if (start < text.length) this.pieces.push(text.slice(start));
  }

  /** @param {string} line one complete line, without its line end */
  line(line) {
    if (line === '') {
      this.dispatch();
      return;
    }
    if (line.charCodeAt(0) === 58) return; // ':' comment / keepalive
    const colon = line.indexOf(':');
    let field = line;
    let value = '';
    if (colon >= 0) {
      field = line.slice(0, colon);
      value = line.slice(colon + 1);
      if (value.charCodeAt(0) === 32) value = value.slice(1);
    }
    if (field === 'event') this.eventType = value;
    else if (field === 'data') this.data.push(value);
    else if (field === 'id') {
      if (!value.includes('\0')) this.lastEventId = value;
    } else if (field === 'retry') {
      if (/^\d+$/.test(value)) this.retry = Number(value);
    }
  }

  dispatch() {
    if (!this.data.length) {
      this.resetEvent();
      return;
    }
    const event = { event: this.eventType || 'message', data: this.data.join('\n'),
      id: this.lastEventId };
    this.resetEvent();
    this.onEvent(event);
  }

  /** End of stream: an event without its blank line is dropped (HTML spec). */
  end() {
    this.pieces = [];
    this.resetEvent();
  }
}

/**
 * Read a fetch Response body as SSE; `onEvent({event, data})` gets JSON-decoded data.
 * @param {Response} res
 * @param {(event: StreamEvent) => void} onEvent
 * @returns {Promise<void>} settles when the stream ends
 */
export async function readEventStream(res, onEvent) {
  const reader = res.body.getReader();
  const decoder = new TextDecoder('utf-8');
  const parser = new SSEParser((ev) => {
    let data = ev.data;
    try {
      data = JSON.parse(ev.data);
    } catch (_) {
      // not JSON: hand over the text
    }
    onEvent({ event: ev.event, data });
  });
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    parser.feed(decoder.decode(value, { stream: true }));
  }
  parser.feed(decoder.decode());
  parser.end();
}
