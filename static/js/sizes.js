// sizes.js — image size presets and the gpt-image-2 size rules (docs/API.md §17.4): both edges
// multiples of 16, longest edge ≤ 3840, aspect ratio ≤ 3:1, 655,360 ≤ W·H ≤ 8,294,400.
// The server forwards any size; checking here spares the user an upstream 400.
// Must not: touch the DOM.

export const MIN_PIXELS = 655360;
export const MAX_PIXELS = 8294400;
export const MAX_EDGE = 3840;
export const MAX_RATIO = 3;

// The original's presets (square, landscape, portrait, 2K, 4K) plus 21:9.
export const PRESETS = [
  { value: '1024x1024', group: 'square', sub: '1:1' },
  { value: '2048x2048', group: 'square', sub: '2K 1:1' },
  { value: '1536x1024', group: 'landscape', sub: '3:2' },
  { value: '1360x1024', group: 'landscape', sub: '4:3' },
  { value: '1824x1024', group: 'landscape', sub: '16:9' },
  { value: '2048x1152', group: 'landscape', sub: '2K 16:9' },
  { value: '2688x1152', group: 'landscape', sub: '21:9' },
  { value: '3824x2160', group: 'landscape', sub: '4K 16:9' },
  { value: '1024x1536', group: 'portrait', sub: '2:3' },
  { value: '1024x1360', group: 'portrait', sub: '3:4' },
  { value: '1024x1824', group: 'portrait', sub: '9:16' },
  { value: '1152x2048', group: 'portrait', sub: '2K 9:16' },
  { value: '2160x3824', group: 'portrait', sub: '4K 9:16' },
  { value: 'auto', group: 'auto', sub: '' },
];

export function parseSize(text) {
  const m = /^\s*(\d{1,6})\s*[x×*]\s*(\d{1,6})\s*$/i.exec(String(text || ''));
  return m ? { w: Number(m[1]), h: Number(m[2]) } : null;
}

/** The list of rules a W×H breaks (empty = valid). Codes are i18n keys under size.rule.* */
export function sizeProblems(w, h) {
  const problems = [];
  if (!Number.isInteger(w) || !Number.isInteger(h) || w <= 0 || h <= 0) return ['number'];
  if (w % 16 || h % 16) problems.push('multiple16');
  if (Math.max(w, h) > MAX_EDGE) problems.push('maxEdge');
  if (Math.max(w, h) / Math.min(w, h) > MAX_RATIO) problems.push('ratio');
  if (w * h < MIN_PIXELS) problems.push('minPixels');
  if (w * h > MAX_PIXELS) problems.push('maxPixels');
  return problems;
}

export const isValidSize = (w, h) => sizeProblems(w, h).length === 0;

/**
 * The valid size closest to W×H: keep the aspect ratio (clamped to 3:1), bring the pixel
 * count into the budget and the long edge under the cap, then try the multiples of 16
 * around the result and keep the nearest valid one.
 */
export function nearestValidSize(w, h) {
  if (!(w > 0) || !(h > 0)) return { w: 1024, h: 1024 };
  const ratio = Math.min(MAX_RATIO, Math.max(1 / MAX_RATIO, w / h));
  const area = Math.min(MAX_PIXELS, Math.max(MIN_PIXELS, w * h));
  let tw = Math.sqrt(area * ratio);
  let th = Math.sqrt(area / ratio);
  const scale = Math.min(1, MAX_EDGE / Math.max(tw, th));
  tw *= scale;
  th *= scale;
  let best = null;
  const baseW = Math.round(tw / 16) * 16;
  const baseH = Math.round(th / 16) * 16;
  for (let dw = -4; dw <= 4; dw += 1) {
    for (let dh = -4; dh <= 4; dh += 1) {
      const cw = baseW + dw * 16;
      const ch = baseH + dh * 16;
      if (cw <= 0 || ch <= 0 || !isValidSize(cw, ch)) continue;
      const cost = Math.abs(cw - tw) + Math.abs(ch - th);
      if (!best || cost < best.cost) best = { w: cw, h: ch, cost };
    }
  }
  return best ? { w: best.w, h: best.h } : { w: 1024, h: 1024 };
}
