// views/queue.js — the Queue view (loaded on first visit): every job of GET /api/jobs with its
// state, kind, prompt and times, Retry (failed, interrupted, canceled) and Cancel (queued,
// running), and the queue's Pause / Resume with "paused until HH:MM" when the quota ran out
// (GET /api/jobs carries the queue state). Kept current by the live stream's job.* and queue.*
// events (live.js), not by polling. The queue's `version` (in the GET answer and the queue.*
// events) orders what arrives: a read that started before an event and answers after it is
// dropped, never shown over the newer state. Must not: start jobs (the composer and node mode do).
import { h, tx, clear, toast, fmtDate } from '../dom.js';
import { t } from '../i18n.js';
import { on } from '../state.js';
import { api } from '../api.js';

const RETRYABLE = ['failed', 'interrupted', 'canceled'];
const CANCELABLE = ['queued', 'running'];
const els = {};
let jobs = [];
let queue = null;
let loading = null;
let again = false;
let seen = -1; // the newest queue version shown; -1 after a (re)connect: a restart starts at 0

/** Is this queue state at least as new as what is shown? (Records it if so.) */
function fresh(q) {
  const version = q && typeof q.version === 'number' ? q.version : null;
  if (version === null) return true; // a server without versions: every answer is taken
  if (version < seen) return false;
  seen = version;
  return true;
}

const hhmm = (ms) => new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });

async function act(run) {
  try {
    await run();
  } catch (err) {
    toast(t('queue.failed', { message: err.message }), { kind: 'error' });
  }
  load();
}

function jobRow(job) {
  const actions = [];
  if (RETRYABLE.includes(job.state)) {
    actions.push(tx('button', 'queue.retry', { type: 'button', class: 'btn btn-small', 'data-action': 'retry',
      onclick: () => act(() => api.retryJob(job.id)) }));
  }
  if (CANCELABLE.includes(job.state)) {
    actions.push(tx('button', 'queue.cancel', { type: 'button', class: 'btn btn-small', 'data-action': 'cancel',
      onclick: () => act(() => api.cancelQueued(job.id)) }));
  }
  const error = job.error && (job.error.message || job.error.code);
  return h('li', { class: 'queue-job', dataset: { id: job.id, state: job.state } },
    h('span', { class: 'badge queue-state state-' + job.state, text: t('queue.state.' + job.state) }),
    h('div', { class: 'queue-main' },
      h('p', { class: 'queue-prompt', text: job.prompt || t('queue.noPrompt') }),
      h('p', { class: 'muted small', text: [t('queue.kind.' + job.kind), job.createdAt ? fmtDate(job.createdAt) : '',
        job.attempts > 1 ? t('queue.attempts', { n: job.attempts }) : ''].filter(Boolean).join(' · ') }),
      error ? h('p', { class: 'small queue-error', text: error }) : null),
    h('div', { class: 'queue-actions' }, actions));
}

function render() {
  if (!els.list) return;
  const paused = queue && queue.paused;
  els.state.textContent = !queue ? '' : paused === 'quota' && queue.resumesAt
    ? t('queue.pausedUntil', { time: hhmm(queue.resumesAt) })
    : paused ? t('queue.paused') : t('queue.running', { running: queue.running || 0, queued: queue.queued || 0 });
  els.state.dataset.paused = paused ? String(paused) : '';
  els.pause.hidden = Boolean(paused);
  els.resume.hidden = !paused;
  clear(els.list);
  for (const job of jobs) els.list.append(jobRow(job));
  els.empty.hidden = jobs.length > 0;
  els.list.hidden = jobs.length === 0;
  els.root.dataset.loaded = 'true';
}

/** Read the jobs and the queue again; calls during a read fold into one more. */
export function load() {
  if (loading) {
    again = true;
    return loading;
  }
  loading = api.jobs().then((data) => {
    if (!fresh(data.queue)) return; // older than an event already shown: the next read follows
    jobs = Array.isArray(data.jobs) ? data.jobs : [];
    queue = data.queue || null;
    render();
  }).catch((err) => {
    els.state.textContent = t('queue.failed', { message: err.message });
  }).finally(() => {
    loading = null;
    if (again) {
      again = false;
      load();
    }
  });
  return loading;
}

export function initQueue(root) {
  els.root = root;
  els.state = h('p', { class: 'queue-status', id: 'queue-status', role: 'status' });
  els.pause = tx('button', 'queue.pause', { type: 'button', class: 'btn', id: 'queue-pause',
    onclick: () => act(() => api.pauseQueue()) });
  els.resume = tx('button', 'queue.resume', { type: 'button', class: 'btn btn-primary', id: 'queue-resume',
    hidden: true, onclick: () => act(() => api.resumeQueue()) });
  els.list = h('ul', { class: 'queue-list', id: 'queue-list', 'aria-labelledby': 'queue-h1' });
  els.empty = tx('p', 'queue.empty', { class: 'empty-state', id: 'queue-empty', hidden: true });
  root.append(h('div', { class: 'queue-toolbar' }, els.state, els.pause, els.resume), els.empty, els.list);
  on('live:job', load);
  on('live:queue', ({ queue: q }) => {
    if (q && fresh(q)) {
      queue = q;
      render();
    }
    load();
  });
  on('live:state', (open) => {
    if (!open) return;
    seen = -1;
    load();
  });
  on('lang', render);
  return load();
}
