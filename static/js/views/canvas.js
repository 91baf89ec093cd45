// views/canvas.js — the node canvas: pan (drag the background, arrow keys), zoom (wheel,
// +/−/0 keys, buttons), node cards positioned in world coordinates, parent→child edges as SVG
// paths, dragging nodes by their header (Shift+arrows for the keyboard), dragging from a card's
// port onto another card to connect (re-parent) it, selecting nodes and edges, a minimap, and
// a compact level of detail when zoomed out (200–500 nodes stay readable). Rendering is keyed
// by id so 200+ nodes update in place. Must not: save or generate (it reports intents through
// the handlers it is given).
import { h, iconButton, isTyping } from '../dom.js';

export const NODE_W = 240;
const ANCHOR_Y = 18;
const CARD_H = 440;
const SVG_NS = 'http://www.w3.org/2000/svg';

export function createCanvas(container, handlers) {
  const view = { x: 40, y: 40, zoom: 1 };
  const world = h('div', { class: 'world' });
  const edgesSvg = document.createElementNS(SVG_NS, 'svg');
  edgesSvg.setAttribute('class', 'edges');
  edgesSvg.setAttribute('width', '1');
  edgesSvg.setAttribute('height', '1');
  world.append(edgesSvg);
  const el = h('div', { class: 'canvas', id: 'canvas', tabindex: 0, role: 'application',
    'aria-roledescription': 'canvas', 'aria-label': handlers.label() }, world);
  // Zoom buttons live in the toolbar (outside the canvas), so nodes never cover them.
  const controls = h('div', { class: 'zoom-controls', role: 'group' },
    iconButton('minus', 'canvas.zoomOut', () => zoomAt(1 / 1.2), { cls: 'btn-small' }),
    iconButton('plus', 'canvas.zoomIn', () => zoomAt(1.2), { cls: 'btn-small' }),
    iconButton('fit', 'canvas.fit', () => fit(), { cls: 'btn-small' }));
  const mini = h('canvas', { class: 'minimap', width: 180, height: 120, 'aria-hidden': 'true' });
  container.append(el);
  el.append(mini);
  // The canvas never scrolls (it pans); undo scrolling that focus() or the browser starts.
  el.addEventListener('scroll', () => {
    el.scrollTop = 0;
    el.scrollLeft = 0;
  });
  const nodeEls = new Map();
  const edgeEls = new Map();

  function applyView() {
    world.style.transform = `translate(${view.x}px, ${view.y}px) scale(${view.zoom})`;
    el.dataset.zoom = view.zoom.toFixed(3);
    el.classList.toggle('lod', view.zoom < 0.55);
    drawMini();
  }

  // --- minimap: every node as a dot-sized box, the visible area as a frame; click to go there
  let miniFrame = 0;
  let miniMap = null;
  function drawMini() {
    if (miniFrame) return;
    miniFrame = requestAnimationFrame(() => {
      miniFrame = 0;
      const nodes = handlers.nodes();
      mini.hidden = nodes.length < 2;
      if (mini.hidden) return;
      const vw = el.clientWidth / view.zoom;
      const vh = el.clientHeight / view.zoom;
      const vx = -view.x / view.zoom;
      const vy = -view.y / view.zoom;
      const xs = nodes.map((n) => n.x).concat([vx, vx + vw]);
      const ys = nodes.map((n) => n.y).concat([vy, vy + vh]);
      const minX = Math.min(...xs);
      const minY = Math.min(...ys);
      const span = Math.max((Math.max(...xs) + NODE_W - minX) / mini.width,
        (Math.max(...ys) + CARD_H - minY) / mini.height);
      miniMap = { minX, minY, span };
      const g = mini.getContext('2d');
      const css = getComputedStyle(el);
      g.clearRect(0, 0, mini.width, mini.height);
      g.fillStyle = css.getPropertyValue('--edge');
      for (const n of nodes) {
        g.fillRect((n.x - minX) / span, (n.y - minY) / span, Math.max(2, NODE_W / span), Math.max(2, CARD_H / span));
      }
      g.strokeStyle = css.getPropertyValue('--accent');
      g.lineWidth = 2;
      g.strokeRect((vx - minX) / span, (vy - minY) / span, vw / span, vh / span);
    });
  }
  mini.addEventListener('pointerdown', (e) => {
    e.stopPropagation();
    if (!miniMap) return;
    const box = mini.getBoundingClientRect();
    const wx = miniMap.minX + (e.clientX - box.left) * (mini.width / box.width) * miniMap.span;
    const wy = miniMap.minY + (e.clientY - box.top) * (mini.height / box.height) * miniMap.span;
    view.x = el.clientWidth / 2 - wx * view.zoom;
    view.y = el.clientHeight / 2 - wy * view.zoom;
    applyView();
  });

  function zoomAt(factor, cx = el.clientWidth / 2, cy = el.clientHeight / 2) {
    const next = Math.min(2.5, Math.max(0.1, view.zoom * factor));
    view.x = cx - ((cx - view.x) * next) / view.zoom;
    view.y = cy - ((cy - view.y) * next) / view.zoom;
    view.zoom = next;
    applyView();
  }

  function fit(nodes = handlers.nodes()) {
    if (!nodes.length) {
      Object.assign(view, { x: 40, y: 40, zoom: 1 });
      return applyView();
    }
    const xs = nodes.map((n) => n.x);
    const ys = nodes.map((n) => n.y);
    const minX = Math.min(...xs);
    const minY = Math.min(...ys);
    // Real card sizes (a card with an image, prompt and buttons is ~440 px, not a guess).
    const tall = Math.max(CARD_H, ...Array.from(nodeEls.values(), (c) => c.offsetHeight || 0));
    const w = Math.max(...xs) - minX + NODE_W;
    const hgt = Math.max(...ys) - minY + tall;
    view.zoom = Math.min(1, Math.max(0.1, Math.min(el.clientWidth / (w + 80), el.clientHeight / (hgt + 80))));
    view.x = 40 - minX * view.zoom;
    view.y = 40 - minY * view.zoom;
    applyView();
  }

  /** Pan so a node's card is in view (new nodes, keyboard focus). */
  function reveal(node) {
    const w = el.clientWidth;
    const hh = el.clientHeight;
    const sx = node.x * view.zoom + view.x;
    const sy = node.y * view.zoom + view.y;
    if (view.zoom < 0.55) view.zoom = 1; // a node to work on is shown at a readable size
    else if (sx >= 0 && sy >= 0 && sx + NODE_W * view.zoom <= w && sy + CARD_H * view.zoom <= hh) return;
    view.x = w / 2 - (node.x + NODE_W / 2) * view.zoom;
    view.y = Math.max(20, (hh - CARD_H * view.zoom) / 2) - node.y * view.zoom;
    applyView();
  }

  /** World coordinates of the middle of the visible area (new roots go there). */
  function center() {
    return { x: (el.clientWidth / 2 - view.x) / view.zoom - NODE_W / 2,
      y: (el.clientHeight / 2 - view.y) / view.zoom - 150 };
  }

  // --- pointer: pan the background, drag nodes by their header ---------------------------
  let drag = null;
  el.addEventListener('pointerdown', (e) => {
    if (e.button !== 0) return;
    // Shift/Ctrl+click adds to the selection; it must not select page text.
    if ((e.shiftKey || e.ctrlKey || e.metaKey) && !e.target.closest('textarea, input')) e.preventDefault();
    const port = e.target.closest('.gnode-port');
    if (port) {
      const from = port.closest('.gnode').dataset.id;
      const link = document.createElementNS(SVG_NS, 'path');
      link.setAttribute('class', 'edge linking');
      edgesSvg.append(link);
      drag = { kind: 'link', id: from, link, moved: false };
      el.setPointerCapture(e.pointerId);
      e.preventDefault();
      return;
    }
    const head = e.target.closest('.gnode-head');
    const nodeEl = e.target.closest('.gnode');
    if (e.target.closest('button, textarea, input, select, a')) return;
    if (head && nodeEl) {
      const node = handlers.node(nodeEl.dataset.id);
      drag = { kind: 'node', id: nodeEl.dataset.id, sx: e.clientX, sy: e.clientY, ox: node.x,
        oy: node.y, moved: false };
    } else if (!nodeEl) {
      drag = { kind: 'pan', sx: e.clientX, sy: e.clientY, ox: view.x, oy: view.y, moved: false,
        edge: e.target.classList && e.target.classList.contains('edge') ? e.target.dataset.id : null };
      el.classList.add('panning');
    } else return;
    el.setPointerCapture(e.pointerId);
  });
  el.addEventListener('pointermove', (e) => {
    if (!drag) return;
    if (drag.kind === 'link') {
      const a = handlers.node(drag.id);
      const box = el.getBoundingClientRect();
      const x2 = (e.clientX - box.left - view.x) / view.zoom;
      const y2 = (e.clientY - box.top - view.y) / view.zoom;
      drag.link.setAttribute('d', `M${a.x + NODE_W},${a.y + ANCHOR_Y} L${x2},${y2}`);
      return;
    }
    const dx = e.clientX - drag.sx;
    const dy = e.clientY - drag.sy;
    if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
    if (drag.kind === 'pan') {
      view.x = drag.ox + dx;
      view.y = drag.oy + dy;
      applyView();
    } else if (drag.moved) {
      handlers.move(drag.id, drag.ox + dx / view.zoom, drag.oy + dy / view.zoom, false);
    }
  });
  const endDrag = (e) => {
    if (!drag) return;
    el.classList.remove('panning');
    if (drag.kind === 'link') {
      drag.link.remove();
      const under = document.elementFromPoint(e.clientX, e.clientY);
      const target = /** @type {HTMLElement|null} */ (under && under.closest && under.closest('.gnode'));
      if (target && target.dataset.id !== drag.id) handlers.connect(drag.id, target.dataset.id);
      drag = null;
      return;
    }
    if (drag.kind === 'node' && drag.moved) {
      handlers.move(drag.id, drag.ox + (e.clientX - drag.sx) / view.zoom,
        drag.oy + (e.clientY - drag.sy) / view.zoom, true);
    } else if (drag.kind === 'node') {
      handlers.select(drag.id, e.shiftKey || e.ctrlKey || e.metaKey);
    } else if (!drag.moved) {
      if (drag.edge) handlers.selectEdge(drag.edge);
      else handlers.clearSelection();
    }
    drag = null;
  };
  el.addEventListener('pointerup', endDrag);
  el.addEventListener('pointercancel', () => {
    if (drag && drag.link) drag.link.remove();
    drag = null;
    el.classList.remove('panning');
  });
  el.addEventListener('wheel', (e) => {
    e.preventDefault();
    const box = el.getBoundingClientRect();
    zoomAt(Math.exp(-e.deltaY * 0.0015), e.clientX - box.left, e.clientY - box.top);
  }, { passive: false });
  el.addEventListener('click', (e) => {
    const nodeEl = e.target.closest('.gnode');
    if (nodeEl && !e.target.closest('button, textarea, input, select, a, .gnode-head')) {
      handlers.select(nodeEl.dataset.id, e.shiftKey || e.ctrlKey || e.metaKey);
    }
  });

  // --- keyboard ----------------------------------------------------------------------------
  el.addEventListener('keydown', (e) => {
    if (isTyping(e)) return;
    const step = 60;
    const arrows = { ArrowLeft: [1, 0], ArrowRight: [-1, 0], ArrowUp: [0, 1], ArrowDown: [0, -1] };
    const nodeEl = e.target.closest && e.target.closest('.gnode');
    if ((e.key === 'Enter' || e.key === ' ') && nodeEl && e.target === nodeEl) {
      handlers.select(nodeEl.dataset.id, e.shiftKey || e.ctrlKey || e.metaKey);
    } else if (e.key in arrows && e.shiftKey) {
      handlers.nudge(-arrows[e.key][0] * 20, -arrows[e.key][1] * 20);
    } else if (e.key in arrows) {
      view.x += arrows[e.key][0] * step;
      view.y += arrows[e.key][1] * step;
      applyView();
    } else if (e.key === '+' || e.key === '=') zoomAt(1.2);
    else if (e.key === '-') zoomAt(1 / 1.2);
    else if (e.key === '0') fit();
    else if (e.key === 'Delete' || e.key === 'Backspace') handlers.deleteSelection();
    else if (e.key === 'Escape') handlers.clearSelection();
    else return;
    e.preventDefault();
  });

  // --- rendering -----------------------------------------------------------------------------
  function renderEdges(edges, nodes, selectedEdge) {
    const alive = new Set();
    for (const edge of edges) {
      const a = nodes.get(edge.source);
      const b = nodes.get(edge.target);
      if (!a || !b) continue;
      alive.add(edge.id);
      let path = edgeEls.get(edge.id);
      if (!path) {
        path = document.createElementNS(SVG_NS, 'path');
        path.setAttribute('class', 'edge');
        path.dataset.id = edge.id;
        edgeEls.set(edge.id, path);
        edgesSvg.append(path);
      }
      const x1 = a.x + NODE_W;
      const y1 = a.y + ANCHOR_Y;
      const x2 = b.x;
      const y2 = b.y + ANCHOR_Y;
      const bend = Math.max(40, Math.abs(x2 - x1) / 2);
      path.setAttribute('d', `M${x1},${y1} C${x1 + bend},${y1} ${x2 - bend},${y2} ${x2},${y2}`);
      path.classList.toggle('selected', edge.id === selectedEdge);
    }
    for (const [id, path] of edgeEls) {
      if (!alive.has(id)) {
        path.remove();
        edgeEls.delete(id);
      }
    }
  }

  /** Create/update/remove node cards; `build(node)` and `update(el, node)` come from nodes.js. */
  function render({ nodes, edges, selected, selectedEdge, build, update }) {
    const alive = new Set();
    for (const node of nodes.values()) {
      alive.add(node.id);
      let card = nodeEls.get(node.id);
      if (!card) {
        card = build(node);
        nodeEls.set(node.id, card);
        world.append(card);
      }
      card.style.transform = `translate(${node.x}px, ${node.y}px)`;
      card.classList.toggle('selected', selected.has(node.id));
      if (selected.has(node.id)) card.setAttribute('aria-current', 'true');
      else card.removeAttribute('aria-current');
      update(card, node);
    }
    for (const [id, card] of nodeEls) {
      if (!alive.has(id)) {
        card.remove();
        nodeEls.delete(id);
      }
    }
    renderEdges(edges.values(), nodes, selectedEdge);
    drawMini();
  }

  function place(id, x, y) {
    const card = nodeEls.get(id);
    if (card) card.style.transform = `translate(${x}px, ${y}px)`;
  }

  applyView();
  return { el, controls, render, place, renderEdges, zoomAt, fit, center, reveal, view,
    nodeEl: (id) => nodeEls.get(id) };
}
