// views/progress.js — the running list: every job (this tab's, other tabs', node mode's, the
// CLI's) with its phase, elapsed time, the partial previews of this tab's streams and a Cancel
// button. Must not: start jobs (jobs.js does) or decide what a finished job shows.
import { h, tx, clear, iconButton, fmtSeconds, toast } from '../dom.js';
import { t } from '../i18n.js';
import { on } from '../state.js';
import { runningJobs, cancelJob } from '../jobs.js';

const rows = new Map(); // requestId -> {el, phase, elapsed, previews, cancel, job}
let list = null;
let empty = null;
let ticker = null;

function phaseText(job) {
  const key = 'phase.' + (job.phase || 'queued');
  const known = t(key);
  return known === key ? job.phase : known;
}

function kindText(job) {
  return t('job.kind.' + (['generate', 'edit', 'node', 'classic'].includes(job.kind)
    ? job.kind : 'classic'));
}

function build(job) {
  const phase = h('span', { class: 'job-phase' });
  const elapsed = h('span', { class: 'job-elapsed mono' });
  const previews = h('div', { class: 'job-previews' });
  const cancel = iconButton('stop', 'job.cancel', async () => {
    cancel.disabled = true;
    try {
      await cancelJob(job.requestId);
    } catch (err) {
      cancel.disabled = false;
      toast(t('job.cancelFailed', { message: err.message }), { kind: 'error' });
    }
  }, { showLabel: true, cls: 'btn-small job-cancel' });
  const el = h('li', { class: 'job', dataset: { requestId: job.requestId } },
    h('div', { class: 'job-head' },
      h('span', { class: 'badge job-kind', text: kindText(job) }),
      h('span', { class: 'job-prompt', text: job.prompt || t('job.noPrompt') }),
      h('span', { class: 'spinner', 'aria-hidden': 'true' })),
    h('div', { class: 'job-meta' }, phase, elapsed,
      job.local ? null : tx('span', 'job.elsewhere', { class: 'muted small' }), cancel),
    previews);
  return { el, phase, elapsed, previews, cancel, job, shown: new Map() };
}

function update(row, job) {
  row.job = job;
  row.phase.textContent = phaseText(job);
  row.el.dataset.phase = job.phase || 'queued';
  for (const [key, src] of job.previews || []) {
    if (row.shown.get(key) === src) continue;
    row.shown.set(key, src);
    let img = row.previews.querySelector(`img[data-key="${String(key).replace(/"/g, '')}"]`);
    if (!img) {
      img = h('img', { class: 'job-preview', dataset: { key: String(key) },
        alt: t('job.previewAlt') });
      row.previews.append(img);
    }
    img.src = src;
  }
}

function render(jobs) {
  const seen = new Set();
  for (const job of jobs) {
    seen.add(job.requestId);
    let row = rows.get(job.requestId);
    if (!row) {
      row = build(job);
      rows.set(job.requestId, row);
      list.append(row.el);
    }
    update(row, job);
  }
  for (const [id, row] of rows) {
    if (!seen.has(id)) {
      row.el.remove();
      rows.delete(id);
    }
  }
  empty.hidden = rows.size > 0;
  list.hidden = rows.size === 0;
  tick();
}

function tick() {
  const now = Date.now();
  for (const row of rows.values()) row.elapsed.textContent = fmtSeconds(now - row.job.startedAt);
}

export function initProgress(root) {
  list = h('ul', { class: 'jobs', id: 'jobs', 'aria-live': 'polite' });
  empty = tx('p', 'job.none', { class: 'muted small', id: 'jobs-empty' });
  root.append(h('section', { class: 'panel progress', 'aria-labelledby': 'jobs-title' },
    tx('h2', 'job.title', { id: 'jobs-title', class: 'section-title' }), empty, list));
  on('jobs', render);
  on('lang', () => {
    for (const row of rows.values()) row.el.remove();
    rows.clear();
    clear(list);
    render(runningJobs());
  });
  render(runningJobs());
  ticker = setInterval(tick, 250);
  return () => clearInterval(ticker);
}
