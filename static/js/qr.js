// qr.js — QR codes drawn locally (no network, no library): byte mode (UTF-8), versions 1–10
// (up to 271 bytes at level L, 213 at M — a share link is well under 100), the four error
// correction levels, the eight masks with the standard's penalty rules (ISO/IEC 18004).
// `qrMatrix` returns the module grid; `qrSvg` draws it as one SVG path with a quiet zone.
// Must not: touch the DOM (the caller inserts the SVG text), fetch anything.

/** @typedef {'L'|'M'|'Q'|'H'} EccLevel */
/** @typedef {{ version: number, size: number, mask: number, ecc: EccLevel, modules: boolean[][] }} QrCode */

// Per version (index 1..10) and level: [EC codewords per block, [[blocks, data codewords]...]].
/** @type {Record<EccLevel, Array<[number, Array<[number, number]>]>>} */
const BLOCKS = {
  L: [[0, []], [7, [[1, 19]]], [10, [[1, 34]]], [15, [[1, 55]]], [20, [[1, 80]]],
    [26, [[1, 108]]], [18, [[2, 68]]], [20, [[2, 78]]], [24, [[2, 97]]], [30, [[2, 116]]],
    [18, [[2, 68], [2, 69]]]],
  M: [[0, []], [10, [[1, 16]]], [16, [[1, 28]]], [26, [[1, 44]]], [18, [[2, 32]]],
    [24, [[2, 43]]], [16, [[4, 27]]], [18, [[4, 31]]], [22, [[2, 38], [2, 39]]],
    [22, [[3, 36], [2, 37]]], [26, [[4, 43], [1, 44]]]],
  Q: [[0, []], [13, [[1, 13]]], [22, [[1, 22]]], [18, [[2, 17]]], [26, [[2, 24]]],
    [18, [[2, 15], [2, 16]]], [24, [[4, 19]]], [18, [[2, 14], [4, 15]]],
    [22, [[4, 18], [2, 19]]], [20, [[4, 16], [4, 17]]], [24, [[6, 19], [2, 20]]]],
  H: [[0, []], [17, [[1, 9]]], [28, [[1, 16]]], [22, [[2, 13]]], [16, [[4, 9]]],
    [22, [[2, 11], [2, 12]]], [28, [[4, 15]]], [26, [[4, 13], [1, 14]]],
    [26, [[4, 14], [2, 15]]], [24, [[4, 12], [4, 13]]], [28, [[6, 15], [2, 16]]]],
};
const ALIGN = [[], [], [6, 18], [6, 22], [6, 26], [6, 30], [6, 34], [6, 22, 38], [6, 24, 42],
  [6, 26, 46], [6, 28, 50]];
const FORMAT_LEVEL = { L: 1, M: 0, Q: 3, H: 2 };
export const MAX_VERSION = 10;

// --- GF(256) with the QR polynomial x^8 + x^4 + x^3 + x^2 + 1 -----------------------------
const EXP = new Uint8Array(512);
const LOG = new Uint8Array(256);
for (let i = 0, x = 1; i < 255; i++) {
  EXP[i] = x;
  LOG[x] = i;
  x <<= 1;
  if (x & 0x100) x ^= 0x11d;
}
for (let i = 255; i < 512; i++) EXP[i] = EXP[i - 255];
const mul = (a, b) => (a && b ? EXP[LOG[a] + LOG[b]] : 0);

/** Reed–Solomon generator polynomial of degree n (highest coefficient first, leading 1 dropped). */
function generator(n) {
  let poly = [1];
  for (let i = 0; i < n; i++) {
    const next = new Array(poly.length + 1).fill(0);
    for (let j = 0; j < poly.length; j++) {
      next[j] ^= poly[j];
      next[j + 1] ^= mul(poly[j], EXP[i]);
    }
    poly = next;
  }
  return poly.slice(1);
}

/** The n error correction codewords of `data`. */
function remainder(data, n) {
  const gen = generator(n);
  const rem = new Array(n).fill(0);
  for (const byte of data) {
    const factor = byte ^ rem.shift();
    rem.push(0);
    for (let i = 0; i < n; i++) rem[i] ^= mul(gen[i], factor);
  }
  return rem;
}

function dataCapacity(version, ecc) {
  return BLOCKS[ecc][version][1].reduce((sum, [count, size]) => sum + count * size, 0);
}

/** Byte-mode bit stream, terminated and padded to the version's data codewords. */
function encodeData(bytes, version, ecc) {
  const bits = [];
  const put = (value, length) => {
    for (let i = length - 1; i >= 0; i--) bits.push((value >>> i) & 1);
  };
  put(0b0100, 4);
  put(bytes.length, version < 10 ? 8 : 16);
  for (const b of bytes) put(b, 8);
  const capacityBits = dataCapacity(version, ecc) * 8;
  put(0, Math.min(4, capacityBits - bits.length));
  while (bits.length % 8) bits.push(0);
  const out = [];
  for (let i = 0; i < bits.length; i += 8) {
    out.push(bits.slice(i, i + 8).reduce((acc, bit) => (acc << 1) | bit, 0));
  }
  for (let pad = 0xec; out.length < capacityBits / 8; pad ^= 0xec ^ 0x11) out.push(pad);
  return out;
}

/** Split into blocks, add each block's error correction, interleave. */
function codewords(data, version, ecc) {
  const [ecLength, groups] = BLOCKS[ecc][version];
  const blocks = [];
  let at = 0;
  for (const [count, size] of groups) {
    for (let i = 0; i < count; i++) {
      const part = data.slice(at, at + size);
      at += size;
      blocks.push({ data: part, ec: remainder(part, ecLength) });
    }
  }
  const out = [];
  const longest = Math.max(...blocks.map((b) => b.data.length));
  for (let i = 0; i < longest; i++) {
    for (const b of blocks) if (i < b.data.length) out.push(b.data[i]);
  }
  for (let i = 0; i < ecLength; i++) for (const b of blocks) out.push(b.ec[i]);
  return out;
}

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

  drawFunctionPatterns() {
    const n = this.size;
    for (let i = 0; i < n; i++) {
      this.set(6, i, i % 2 === 0);
      this.set(i, 6, i % 2 === 0);
    }
    for (const [r, c] of [[3, 3], [3, n - 4], [n - 4, 3]]) {
      for (let dr = -4; dr <= 4; dr++) {
        for (let dc = -4; dc <= 4; dc++) {
          const rr = r + dr;
          const cc = c + dc;
          if (rr < 0 || rr >= n || cc < 0 || cc >= n) continue;
          const ring = Math.max(Math.abs(dr), Math.abs(dc));
          this.set(rr, cc, ring !== 2 && ring !== 4);
        }
      }
    }
    const centers = ALIGN[this.version];
    const last = centers.length - 1;
    centers.forEach((r, i) => centers.forEach((c, j) => {
      if ((i === 0 && j === 0) || (i === 0 && j === last) || (i === last && j === 0)) return;
        for (let dr = -2; dr <= 2; dr++) {
          for (let dc = -2; dc <= 2; dc++) {
            this.set(r + dr, c + dc, Math.max(Math.abs(dr), Math.abs(dc)) !== 1);
          }
        }
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
        let a = true;
        let b = true;
        for (let k = 0; k < 11 && (a || b); k++) {
          if (line[i + k] !== finderA[k]) a = false;
          if (line[i + k] !== finderB[k]) b = false;
        }
        if (a) score += 40;
        if (b) score += 40;
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
