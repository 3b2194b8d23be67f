// The selected object's trace as a swimlane timeline: one lane per component (kube-controller-manager,
// kube-scheduler, kubelet, kube-proxy, ...), a mark per step at its time, the critical path beneath.
// Input: the API's Trace document (GET /apis/kubelab.io/v1/namespaces/NS/traces/KIND/NAME, relayed by the
// local server's /api/trace). Plain SVG; every text from the cluster goes in as a text node (textContent),
// never as markup, so a name or message holding <script> shows as text.

import { h, setChildren } from './dom.js';

const SVG = 'http://www.w3.org/2000/svg';
const LABEL_W = 175;      // the lane names' column
const WIDTH = 520;        // the viewBox's width: the SVG scales to the panel
const LANE_H = 24;
const AXIS_H = 22;
const COLORS = ['#3b73c8', '#2e9d5b', '#d6a51e', '#8e44ad', '#e07b24', '#d13c3c', '#16a2b8', '#6b7280'];

function s(tag, attrs = {}, text = null) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== null) el.textContent = text;
  return el;
}

export function duration(seconds) {
  return seconds < 1 ? `${Math.round(seconds * 1000)} ms` : `${seconds.toFixed(1)} s`;
}

// Lanes in the order their component first acted; a step with no component (the write is gone from the
// index) goes in an "(unknown)" lane.
export function lanesOf(steps) {
  const lanes = [];
  for (const st of steps) {
    const c = st.component || '(unknown)';
    if (!lanes.includes(c)) lanes.push(c);
  }
  return lanes;
}

function stepText(st, t0) {
  const at = (Date.parse(st.time) - t0) / 1000;
  return `+${duration(Math.max(0, at))} ${st.component || '-'} (${st.identity || '-'}): ${st.action} ${st.object}` +
    (st.detail ? ` — ${st.detail}` : '');
}

export function drawTrace(el, doc) {
  const steps = doc.steps || [];
  const parts = [];
  for (const note of doc.notes || []) parts.push(h('p', { class: 'trace-note' }, note));
  if (!steps.length) {
    parts.push(h('p', { class: 'muted' }, 'no steps in the apiserver\'s trace index for this object'));
    parts.push(h('p', { class: 'trace-critical' }, `Critical path: ${doc.criticalPath || '-'}`));
    setChildren(el, parts);
    return;
  }
  const times = steps.map((st) => Date.parse(st.time));
  const t0 = Math.min(...times);
  const span = Math.max(Math.max(...times) - t0, 1);
  const lanes = lanesOf(steps);
  const plotW = WIDTH - LABEL_W - 10;
  const x = (t) => LABEL_W + ((t - t0) / span) * plotW;
  const height = lanes.length * LANE_H + AXIS_H;
  const svg = s('svg', { class: 'swimlane', viewBox: `0 0 ${WIDTH} ${height}`, role: 'img' });
  svg.append(s('title', {}, `trace of ${doc.object.kind.toLowerCase()}/${doc.object.name}: ${steps.length} steps`));
  lanes.forEach((lane, i) => {
    const y = i * LANE_H;
    const g = s('g', { class: 'lane', 'data-component': lane });
    g.append(s('rect', { x: 0, y, width: WIDTH, height: LANE_H, class: i % 2 ? 'lane-bg odd' : 'lane-bg' }));
    g.append(s('text', { x: 4, y: y + LANE_H / 2 + 4, class: 'lane-name' }, lane));
    g.append(s('line', { x1: LABEL_W, x2: WIDTH - 10, y1: y + LANE_H / 2, y2: y + LANE_H / 2, class: 'lane-line' }));
    svg.append(g);
  });
  steps.forEach((st, i) => {
    const lane = lanes.indexOf(st.component || '(unknown)');
    const mark = s('circle', {
      cx: x(times[i]).toFixed(1), cy: lane * LANE_H + LANE_H / 2, r: 5, class: 'step',
      fill: COLORS[lane % COLORS.length], 'data-action': st.action, 'data-object': st.object,
    });
    mark.append(s('title', {}, stepText(st, t0)));
    svg.append(mark);
  });
  const axisY = lanes.length * LANE_H + 14;
  svg.append(s('line', { x1: LABEL_W, x2: WIDTH - 10, y1: axisY - 10, y2: axisY - 10, class: 'axis' }));
  svg.append(s('text', { x: LABEL_W, y: axisY, class: 'axis-label' }, '0'));
  svg.append(s('text', { x: WIDTH - 10, y: axisY, class: 'axis-label end' }, duration(span / 1000)));
  parts.push(svg);
  parts.push(h('p', { class: 'trace-critical' }, `Critical path: ${doc.criticalPath}`));
  parts.push(h('details', { class: 'trace-steps' }, h('summary', {}, `${steps.length} steps`),
    h('ol', {}, steps.map((st) => h('li', { dataset: { component: st.component || '' } }, stepText(st, t0))))));
  setChildren(el, parts);
}
