// images.js — turning user files into images the server accepts: HEIC/HEIF refused (browsers
// cannot decode them), anything over the edge or byte budget downscaled with a canvas, other
// types re-encoded to PNG. Must not: touch views or call the API.

export const MAX_REF_EDGE = 2048;
// The server's default limit is 7,340,032 base64 characters (IMA2_MAX_REF_B64_BYTES).
export const MAX_REF_B64 = 7000000;
const PASS_TYPES = ['image/png', 'image/jpeg', 'image/webp', 'image/gif'];

export class ImageInputError extends Error {
  constructor(code, name) {
    super(code);
    this.code = code; // i18n key suffix: heic | notImage | decode
    this.fileName = name;
  }
}

async function sniffHeic(file) {
  try {
    const head = new Uint8Array(await file.slice(0, 16).arrayBuffer());
    const box = String.fromCharCode(...head.slice(4, 12));
    return /^ftyp(heic|heix|hevc|hevx|heim|heis|mif1|msf1|avic)/.test(box) && !box.includes('avif');
  } catch (_) {
    return false;
  }
}

export async function isHeic(file) {
  const type = (file.type || '').toLowerCase();
  const name = (file.name || '').toLowerCase();
  if (type === 'image/heic' || type === 'image/heif' || /\.(heic|heif)$/.test(name)) return true;
  return sniffHeic(file);
}

export function readAsDataURL(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

function loadImage(src) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error('decode'));
    img.src = src;
  });
}

function drawScaled(img, maxEdge, type, quality) {
  const scale = Math.min(1, maxEdge / Math.max(img.naturalWidth, img.naturalHeight));
  const canvas = document.createElement('canvas');
  canvas.width = Math.max(1, Math.round(img.naturalWidth * scale));
  canvas.height = Math.max(1, Math.round(img.naturalHeight * scale));
  canvas.getContext('2d').drawImage(img, 0, 0, canvas.width, canvas.height);
  return canvas.toDataURL(type, quality);
}

/**
 * A File/Blob → {dataUrl, width, height, downscaled}. Throws ImageInputError for HEIC and for
 * files the browser cannot decode.
 */
export async function prepareImage(file, { maxEdge = MAX_REF_EDGE, maxB64 = MAX_REF_B64 } = {}) {
  if (await isHeic(file)) throw new ImageInputError('heic', file.name);
  if (file.type && !file.type.startsWith('image/')) throw new ImageInputError('notImage', file.name);
  const url = URL.createObjectURL(file);
  let img;
  try {
    img = await loadImage(url);
  } catch (_) {
    URL.revokeObjectURL(url);
    throw new ImageInputError('decode', file.name);
  }
  URL.revokeObjectURL(url);
  const edge = Math.max(img.naturalWidth, img.naturalHeight);
  const original = await readAsDataURL(file);
  const passType = PASS_TYPES.includes((file.type || '').toLowerCase());
  if (passType && edge <= maxEdge && b64Length(original) <= maxB64) {
    return { dataUrl: original, width: img.naturalWidth, height: img.naturalHeight,
      downscaled: false };
  }
  // Photos compress far better as JPEG; PNG keeps transparency for everything else.
  const type = (file.type || '').includes('jpeg') ? 'image/jpeg' : 'image/png';
  let limit = Math.min(maxEdge, edge);
  let dataUrl = drawScaled(img, limit, type, 0.9);
  while (b64Length(dataUrl) > maxB64 && limit > 256) {
    limit = Math.round(limit * 0.75);
    dataUrl = drawScaled(img, limit, 'image/jpeg', 0.85);
  }
  const scale = limit / edge;
  return { dataUrl, width: Math.round(img.naturalWidth * scale),
    height: Math.round(img.naturalHeight * scale), downscaled: true };
}

export function b64Length(dataUrl) {
  const comma = dataUrl.indexOf(',');
  return comma >= 0 ? dataUrl.length - comma - 1 : dataUrl.length;
}

/** The bare base64 of a data URL (what /api/edit wants). */
export function stripDataUrl(dataUrl) {
  const comma = dataUrl.indexOf(',');
  return comma >= 0 ? dataUrl.slice(comma + 1) : dataUrl;
}

/** Fetch an image URL of ours (e.g. /generated/x.png) as a File-like Blob with a name. */
export async function fetchAsBlob(url, name) {
  const res = await fetch(url);
  if (!res.ok) throw new ImageInputError('decode', name);
  const blob = await res.blob();
  try {
    return new File([blob], name || 'image', { type: blob.type });
  } catch (_) {
    return blob;
  }
}
