// qr.js — QR codes drawn locally (no network, no library): byte mode (UTF-8), versions 1–10
// (up to 271 bytes at level L, 213 at M — a share link is well under 100), the four error
// correction levels, the eight masks with the standard's penalty rules (ISO/IEC 18004).
// `qrMatrix` returns the module grid; `qrSvg` draws it as one SVG path with a quiet zone.
// Must not: touch the DOM (the caller inserts the SVG text), fetch anything.

import { BLOCKS, codewords, dataCapacity, encodeData } from './qr-data.js';

/** @typedef {'L'|'M'|'Q'|'H'} EccLevel */
/** @typedef {{ version: number, size: number, mask: number, ecc: EccLevel, modules: boolean[][] }} QrCode */

const ALIGN = [[], [], [6, 18], [6, 22], [6, 26], [6, 30], [6, 34], [6, 22, 38], [6, 24, 42],
  [6, 26, 46], [6, 28, 50]];
const FORMAT_LEVEL = { L: 1, M: 0, Q: 3, H: 2 };
export const MAX_VERSION = 10;

function bchFormat(level, mask) {
  const data = (FORMAT_LEVEL[level] << 3) | mask;
  let rem = data;
  for (let i = 0; i < 10; i++) rem = (rem << 1) ^ ((rem >>> 9) * 0x537);
  return ((data << 10) | (rem & 0x3ff)) ^ 0x5412;
}

function bchVersion(version) {
  let rem = version;
  for (let i = 0; i < 12; i++) rem = (rem << 1) ^ ((rem >>> 11) * 0x1f25);
  return (version << 12) | (rem & 0xfff);
}

const MASKS = [
  (r, c) => (r + c) % 2 === 0,
  (r) => r % 2 === 0,
  (r, c) => c % 3 === 0,
  (r, c) => (r + c) % 3 === 0,
  (r, c) => (Math.floor(r / 2) + Math.floor(c / 3)) % 2 === 0,
  (r, c) => ((r * c) % 2) + ((r * c) % 3) === 0,
  (r, c) => (((r * c) % 2) + ((r * c) % 3)) % 2 === 0,
  (r, c) => (((r + c) % 2) + ((r * c) % 3)) % 2 === 0,
];

class Grid {
  constructor(version) {
    this.version = version;
    this.size = version * 4 + 17;
    /** @type {boolean[][]} */
    this.dark = Array.from({ length: this.size }, () => new Array(this.size).fill(false));
    /** @type {boolean[][]} */
    this.fixed = Array.from({ length: this.size }, () => new Array(this.size).fill(false));
  }

  set(row, col, dark) {
    this.dark[row][col] = dark;
    this.fixed[row][col] = true;
  }

  /** Concentric rings around (r, c) out to `radius`, dark where `darkRing(ring)`. */
  square(r, c, radius, darkRing) {
    for (let dr = -radius; dr <= radius; dr++) {
      for (let dc = -radius; dc <= radius; dc++) {
        const rr = r + dr;
        const cc = c + dc;
        if (rr >= 0 && rr < this.size && cc >= 0 && cc < this.size) {
          this.set(rr, cc, darkRing(Math.max(Math.abs(dr), Math.abs(dc))));
        }
      }
    }
  }

  drawFunctionPatterns() {
    const n = this.size;
    for (let i = 0; i < n; i++) {
      this.set(6, i, i % 2 === 0);
      this.set(i, 6, i % 2 === 0);
    }
    for (const [r, c] of [[3, 3], [3, n - 4], [n - 4, 3]]) { // finders with their separators
      this.square(r, c, 4, (ring) => ring !== 2 && ring !== 4);
    }
    const centers = ALIGN[this.version];
    const last = centers.length - 1;
    centers.forEach((r, i) => centers.forEach((c, j) => {
      if ((i === 0 && j === 0) || (i === 0 && j === last) || (i === last && j === 0)) return;
      this.square(r, c, 2, (ring) => ring !== 1);
    }));
    this.drawFormat('M', 0); // reserves the areas; the real bits are drawn after masking
    if (this.version >= 7) {
      const bits = bchVersion(this.version);
      for (let i = 0; i < 18; i++) {
        const dark = ((bits >>> i) & 1) === 1;
        const a = n - 11 + (i % 3);
        const b = Math.floor(i / 3);
        this.set(b, a, dark);
        this.set(a, b, dark);
      }
    }
  }

  drawFormat(level, mask) {
    const n = this.size;
    const bits = bchFormat(level, mask);
    const bit = (i) => ((bits >>> i) & 1) === 1;
    for (let i = 0; i <= 5; i++) this.set(i, 8, bit(i));
    this.set(7, 8, bit(6));
    this.set(8, 8, bit(7));
    this.set(8, 7, bit(8));
    for (let i = 9; i < 15; i++) this.set(8, 14 - i, bit(i));
    for (let i = 0; i < 8; i++) this.set(8, n - 1 - i, bit(i));
    for (let i = 8; i < 15; i++) this.set(n - 15 + i, 8, bit(i));
    this.set(n - 8, 8, true); // the dark module
  }

  placeData(words) {
    const n = this.size;
    let index = 0;
    const total = words.length * 8;
    for (let right = n - 1; right >= 1; right -= 2) {
      if (right === 6) right = 5; // the vertical timing pattern's column holds no data
      const upward = ((right + 1) & 2) === 0;
      for (let step = 0; step < n; step++) {
        const row = upward ? n - 1 - step : step;
        for (let j = 0; j < 2; j++) {
          const col = right - j;
          if (this.fixed[row][col]) continue;
          if (index < total) this.dark[row][col] = ((words[index >>> 3] >>> (7 - (index & 7))) & 1) === 1;
          index++; // remainder bits stay light
        }
      }
    }
  }

  applyMask(mask) {
    const test = MASKS[mask];
    for (let r = 0; r < this.size; r++) {
      for (let c = 0; c < this.size; c++) {
        if (!this.fixed[r][c] && test(r, c)) this.dark[r][c] = !this.dark[r][c];
      }
    }
  }

  penalty() {
    const n = this.size;
    const m = this.dark;
    let score = 0;
    const lines = [];
    for (let i = 0; i < n; i++) {
      lines.push(m[i]);
      lines.push(m.map((row) => row[i]));
    }
    const finderA = [true, false, true, true, true, false, true, false, false, false, false];
    const finderB = [false, false, false, false, true, false, true, true, true, false, true];
    for (const line of lines) {
      let run = 1;
      for (let i = 1; i <= n; i++) {
        if (i < n && line[i] === line[i - 1]) {
          run++;
        } else {
          if (run >= 5) score += 3 + (run - 5); // N1
          run = 1;
        }
      }
      for (let i = 0; i + 11 <= n; i++) { // N3: 1:1:3:1:1 with four light modules on a side
        if (finderA.every((v, k) => line[i + k] === v)) score += 40;
        if (finderB.every((v, k) => line[i + k] === v)) score += 40;
      }
    }
    for (let r = 0; r + 1 < n; r++) { // N2: 2x2 blocks of one colour
      for (let c = 0; c + 1 < n; c++) {
        const v = m[r][c];
        if (v === m[r][c + 1] && v === m[r + 1][c] && v === m[r + 1][c + 1]) score += 3;
      }
    }
    let darkCount = 0; // N4: balance of dark and light
    for (const row of m) for (const v of row) if (v) darkCount++;
    const percent = (darkCount * 100) / (n * n);
    score += Math.floor(Math.abs(percent - 50) / 5) * 10;
    return score;
  }
}

/**
 * The QR code of `text` (UTF-8, byte mode) in the smallest version that holds it.
 * @param {string} text
 * @param {{ ecc?: EccLevel, mask?: number, version?: number }} [options] mask and version
 *   are chosen automatically unless given (tests pin them)
 * @returns {QrCode}
 */
export function qrMatrix(text, options = {}) {
  const ecc = options.ecc || 'M';
  if (!(ecc in BLOCKS)) throw new RangeError('unknown error correction level ' + ecc);
  const bytes = Array.from(new TextEncoder().encode(String(text)));
  let version = options.version || 1;
  const fits = (v) => 4 + (v < 10 ? 8 : 16) + bytes.length * 8 <= dataCapacity(v, ecc) * 8;
  while (version <= MAX_VERSION && !fits(version)) {
    if (options.version) break;
    version++;
  }
  if (version > MAX_VERSION || !fits(version)) throw new RangeError('text too long for a QR code here');
  const words = codewords(encodeData(bytes, version, ecc), version, ecc);
  const build = (mask) => {
    const grid = new Grid(version);
    grid.drawFunctionPatterns();
    grid.placeData(words);
    grid.applyMask(mask);
    grid.drawFormat(ecc, mask);
    return grid;
  };
  let best = null;
  let bestMask = 0;
  const masks = options.mask === undefined ? [0, 1, 2, 3, 4, 5, 6, 7] : [options.mask];
  for (const mask of masks) {
    const grid = build(mask);
    const score = masks.length > 1 ? grid.penalty() : 0;
    if (best === null || score < best.score) {
      best = { grid, score };
      bestMask = mask;
    }
  }
  const grid = /** @type {{ grid: Grid }} */ (best).grid;
  return { version, size: grid.size, mask: bestMask, ecc, modules: grid.dark };
}

/**
 * The QR code of `text` as SVG markup (one path, `quiet` light modules around it).
 * @param {string} text
 * @param {{ ecc?: EccLevel, quiet?: number, label?: string }} [options]
 * @returns {string}
 */
export function qrSvg(text, options = {}) {
  const code = qrMatrix(text, { ecc: options.ecc });
  const quiet = options.quiet === undefined ? 4 : options.quiet;
  const total = code.size + quiet * 2;
  let path = '';
  code.modules.forEach((row, r) => {
    row.forEach((dark, c) => {
      if (dark) path += `M${c + quiet} ${r + quiet}h1v1h-1z`;
    });
  });
  const label = String(options.label || 'QR code').replace(/[<>&"]/g, '');
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${total} ${total}" role="img" `
    + `aria-label="${label}" shape-rendering="crispEdges"><rect width="${total}" height="${total}" `
    + `fill="#fff"/><path d="${path}" fill="#000"/></svg>`;
}
