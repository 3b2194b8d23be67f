// The dashboard page: one EventSource on /api/stream (the local server relays the API's watches), the frames
// of an animation frame applied at once, the panels updated, the selected object's YAML and events, actions.
// The browser holds no token: every API call goes through the local server, which holds the credentials.

import { h, setChildren } from './dom.js';
import { Store, involves, eventTime, keyOf } from './model.js';
import { Board, Workloads, EventStream, renderServices, eventRow } from './views.js';
import { drawTrace } from './trace.js';

const $ = (id) => document.getElementById(id);
const store = new Store();
let selected = null;                 // {kind, namespace, name}
let streamUp = false;
let lostSince = 0;

// ---------------------------------------------------------------- actions and the detail panel
async function act(body) {
  const out = $('action-result');
  out.className = 'pending';
  out.textContent = `${body.action} ${body.name}...`;
  let reply;
  try {
    const resp = await fetch('/api/action', {
      method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Kubelab-Dashboard': '1' },
      body: JSON.stringify(body),
    });
    reply = await resp.json().catch(() => ({ ok: false, message: `the dashboard answered ${resp.status}` }));
  } catch (e) {
    reply = { ok: false, message: `the dashboard server is unreachable: ${e.message}` };
  }
  out.className = reply.ok ? 'ok' : 'error';
  out.textContent = reply.message;
}

function select(kind, namespace, name) {
  selected = { kind, namespace: namespace || '', name };
  drawDetail();
  loadYaml();
  loadTrace();
}

// The trace swimlane: asked again every TRACE_EVERY ms while the panel shows a traced object (what the object
// caused goes on after it was selected: pods bound, started, sent to by each node's proxy).
const TRACED = ['Deployment', 'Pod', 'Service'];
const TRACE_EVERY = 2000;
let traceTimer = 0;
async function loadTrace() {
  clearTimeout(traceTimer);
  const el = $('detail-trace');
  if (!selected) return;
  const { kind, namespace, name } = selected;
  if (!TRACED.includes(kind)) {
    setChildren(el, h('p', { class: 'muted' }, 'kubelab trace follows deployments, pods and services.'));
    return;
  }
  const same = () => selected && selected.kind === kind && selected.name === name && selected.namespace === namespace;
  try {
    const reply = await (await fetch(`/api/trace?${new URLSearchParams({ kind, namespace, name })}`)).json();
    if (!same()) return;
    if (reply.ok) drawTrace(el, reply.trace);
    else setChildren(el, h('p', { class: 'error' }, reply.message));
  } catch (e) {
    if (same()) setChildren(el, h('p', { class: 'error' }, `the dashboard server is unreachable: ${e.message}`));
  }
  if (same()) traceTimer = setTimeout(loadTrace, TRACE_EVERY);
}

let yamlTimer = 0;
async function loadYaml() {
  if (!selected) return;
  const { kind, namespace, name } = selected;
  const q = new URLSearchParams({ kind, namespace, name });
  const pre = $('detail-yaml');
  try {
    const reply = await (await fetch(`/api/object?${q}`)).json();
    const text = reply.ok ? reply.yaml : reply.message;
    if (selected && selected.kind === kind && selected.name === name) pre.textContent = text;
  } catch (e) {
    pre.textContent = `the dashboard server is unreachable: ${e.message}`;
  }
}

function refreshYamlSoon() {    // at most once a second while the selected object changes
  if (!yamlTimer) yamlTimer = setTimeout(() => { yamlTimer = 0; loadYaml(); }, 1000);
}

function drawDetail() {
  const panel = $('detail');
  if (!selected) return;
  const { kind, namespace, name } = selected;
  const buttons = [];
  if (kind === 'Pod') buttons.push(h('button', { type: 'button', class: 'delete', onclick: () => act({ action: 'delete', namespace, name }) }, 'Delete pod'));
  if (kind === 'Node') {
    buttons.push(h('button', { type: 'button', onclick: () => act({ action: 'cordon', name }) }, 'Cordon'));
    buttons.push(h('button', { type: 'button', onclick: () => act({ action: 'uncordon', name }) }, 'Uncordon'));
  }
  if (kind === 'Deployment') buttons.push(h('button', { type: 'button', onclick: () => act({ action: 'undo', namespace, name }) }, 'Rollout undo'));
  const obj = store.of(kind)?.get(namespace ? `${namespace}/${name}` : name);
  const labels = Object.entries(((obj || {}).metadata || {}).labels || {}).map(([k, v]) => h('span', { class: 'label' }, `${k}=${v}`));
  setChildren($('detail-head'), h('h2', {}, `${kind.toLowerCase()}/${name}`), namespace ? h('span', { class: 'muted' }, `namespace ${namespace}`) : null,
    h('div', { class: 'labels' }, labels), h('div', { class: 'detail-actions' }, buttons));
  const events = [...store.of('Event').values()].filter((ev) => involves(ev, kind, namespace, name))
    .sort((a, b) => eventTime(b).localeCompare(eventTime(a)));
  setChildren($('detail-events'), events.length ? events.map((ev) => eventRow(ev, select)) : h('li', { class: 'muted' }, 'no events'));
  panel.hidden = false;
}

// ---------------------------------------------------------------- panels
const board = new Board($('board'), select, act);
const workloads = new Workloads($('workloads'), select, act);
const events = new EventStream($('events'), select);

// ---------------------------------------------------------------- frames, applied once per animation frame
let pending = [];
let scheduled = false;

function enqueue(type, data) {
  pending.push([type, data]);
  if (scheduled) return;
  scheduled = true;
  // A hidden tab gets no animation frames: apply on a timer there, so the queue does not grow unbounded.
  if (document.hidden) setTimeout(flush, 250); else requestAnimationFrame(flush);
}

// Cards to draw. The store is always current; drawing takes at most FRAME_BUDGET ms per frame and leaves the
// rest for the next one, so a burst of 1,000 pod changes never freezes the page (clicks still answer).
const podBacklog = new Set();
const FRAME_BUDGET = 25;

function drawPods() {
  const start = performance.now();
  for (const key of podBacklog) {
    podBacklog.delete(key);
    board.setPod(key, store.of('Pod').get(key));
    if (performance.now() - start > FRAME_BUDGET) break;
  }
  if (podBacklog.size && !scheduled) {
    scheduled = true;
    if (document.hidden) setTimeout(flush, 250); else requestAnimationFrame(flush);
  }
}

function flush() {
  const frames = pending;
  pending = [];
  scheduled = false;
  const dirty = new Map();          // kind -> Set of keys, or 'all'
  const mark = (kind, keys) => {
    if (keys === 'all' || dirty.get(kind) === 'all') { dirty.set(kind, 'all'); return; }
    if (!dirty.has(kind)) dirty.set(kind, new Set());
    for (const k of keys) dirty.get(kind).add(k);
  };
  let statusChanged = false;
  for (const [type, data] of frames) {
    if (type === 'snapshot') { store.snapshot(data.kind, data.items); mark(data.kind, 'all'); }
    else if (type === 'change') { mark(data.kind, [store.change(data.kind, data.type, data.object)]); }
    else if (type === 'status') { store.status.set(data.kind, data); statusChanged = true; }
  }
  if (dirty.has('Node')) board.setNodes([...store.of('Node').values()]);
  if (dirty.has('Pod')) {
    const keys = dirty.get('Pod') === 'all' ? [...board.cards.keys(), ...store.of('Pod').keys()] : dirty.get('Pod');
    for (const key of keys) podBacklog.add(key);
  }
  drawPods();
  if (dirty.has('Deployment') || dirty.has('ReplicaSet')) {
    workloads.render([...store.of('Deployment').values()], [...store.of('ReplicaSet').values()]);
  }
  if (dirty.has('Service') || dirty.has('Endpoints')) {
    renderServices($('services'), [...store.of('Service').values()], store.of('Endpoints'), select);
  }
  if (dirty.get('Event') === 'all') events.reset([...store.of('Event').values()]);
  else if (dirty.has('Event')) {
    for (const key of dirty.get('Event')) {
      const ev = store.of('Event').get(key);
      if (ev) events.put(ev); else events.remove(key);
    }
  }
  if (selected) {
    const key = selected.namespace ? `${selected.namespace}/${selected.name}` : selected.name;
    const d = dirty.get(selected.kind);
    if (d === 'all' || (d && d.has(key))) refreshYamlSoon();
    if (d || dirty.has('Event')) drawDetail();
  }
  setChildren($('counts'), `${store.of('Node').size} nodes · ${store.of('Pod').size} pods · ${store.of('Deployment').size} deployments`);
  if (statusChanged) drawBanner();
}

// ---------------------------------------------------------------- connection and the banner
function drawBanner() {
  const banner = $('banner');
  const down = [...store.status.values()].filter((s) => !s.ok && s.message !== 'connecting');
  let text = '';
  if (!streamUp && lostSince) text = 'Lost the connection to the dashboard server (kubelab dashboard); reconnecting...';
  else if (down.length) {
    const s = down[0];
    const what = s.message.startsWith('Error from server') ? 'refuses the watches' : 'is unreachable';
    text = `The API at ${s.server} ${what} (${down.map((d) => d.kind).join(', ')}): ${s.message}. ` +
      `Reconnecting (next try in ${Number(s.retryIn).toFixed(1)} s); the page shows what it saw last.`;
  }
  banner.textContent = text;
  banner.hidden = !text;
  document.body.classList.toggle('degraded', !!text);
}

function connect() {
  const source = new EventSource('/api/stream');
  source.addEventListener('open', () => { streamUp = true; lostSince = 0; drawBanner(); });
  for (const type of ['snapshot', 'change', 'status']) {
    source.addEventListener(type, (e) => enqueue(type, JSON.parse(e.data)));
  }
  source.addEventListener('error', () => {
    streamUp = false;
    lostSince = lostSince || Date.now();
    drawBanner();
    if (source.readyState === EventSource.CLOSED) {     // the browser gave up: open a new one
      setTimeout(connect, 2000);
    }
  });
}

$('detail-close').addEventListener('click', () => { selected = null; clearTimeout(traceTimer); $('detail').hidden = true; });
connect();
