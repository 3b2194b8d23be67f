// DOM building for the dashboard. Data from the cluster becomes text nodes or attribute values, never HTML:
// there is no innerHTML anywhere in this page, so a name, label or message holding <script> shows as text.

export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  fill(el, children);
  return el;
}

function fill(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));   // append(string) makes a text node
  }
}

export function setChildren(el, ...children) {
  el.replaceChildren();
  fill(el, children);
  return el;
}
