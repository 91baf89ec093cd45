// live.js — the studio's one connection to GET /api/events (Server-Sent Events). EventSource
// reconnects by itself and sends Last-Event-ID, so missed events are replayed; a `reset` (the
// server could not replay) tells the listings to reload. Announces on the bus: 'live:image'
// ({type, filename}), 'live:job' ({type, job}), 'live:queue' ({type, queue}), 'live:reset' and
// 'live:state' (true while connected); the page's <html data-live> says open/closed.
// Must not: build DOM or hold listing state (history.js, jobs.js and the views do).
import { emit } from './state.js';

const named = (prefix, names) => names.map((n) => prefix + '.' + n);
const IMAGE = named('image', ['saved', 'deleted', 'restored']);
const JOB = named('job', ['queued', 'started', 'done', 'failed', 'canceled']);
const QUEUE = named('queue', ['paused', 'resumed']);

let source = null;
let open = false;

export const liveOpen = () => open;

function parse(ev) {
  try {
    return JSON.parse(ev.data);
  } catch (_) {
    return null;
  }
}

function setOpen(value) {
  if (open === value) return;
  open = value;
  document.documentElement.dataset.live = value ? 'open' : 'closed';
  emit('live:state', value);
}

/** Connect once (no-op where EventSource is missing: the studio then polls as before). */
export function startLive() {
  if (source || typeof EventSource === 'undefined') return;
  source = new EventSource('/api/events');
  source.onopen = () => setOpen(true);
  source.onerror = () => setOpen(source.readyState === EventSource.OPEN);
  for (const type of IMAGE) {
    source.addEventListener(type, (ev) => {
      const data = parse(ev);
      if (data && typeof data.filename === 'string') emit('live:image', { type, filename: data.filename });
    });
  }
  for (const type of JOB) {
    source.addEventListener(type, (ev) => {
      const data = parse(ev);
      emit('live:job', { type, job: data && data.job ? data.job : null });
    });
  }
  for (const type of QUEUE) {
    source.addEventListener(type, (ev) => {
      const data = parse(ev);
      emit('live:queue', { type, queue: data && data.queue ? data.queue : null });
    });
  }
  source.addEventListener('reset', () => emit('live:reset'));
}
