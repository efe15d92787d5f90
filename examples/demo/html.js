// A tagged template for HTML that escapes every value it is given, unless the value is itself
// made by `html`. Writing pages with it means nothing from a request or a store, a cookie, a
// product name, a login name, can ever turn into markup (cross-site scripting).
//
//   html`<p>Hello, ${name}</p>`            name is escaped
//   html`<ul>${items.map((i) => html`<li>${i}</li>`)}</ul>`   arrays are joined, parts kept as HTML

const ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text made safe for HTML content and for quoted attribute values. */
export function escapeHtml(value) {
  return String(value).replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

/** A piece of HTML that is already safe: `html` puts it in as is. */
class SafeHtml {
  constructor(text) {
    this.text = text;
  }
  toString() {
    return this.text;
  }
}

/** Marks text as HTML without escaping it. Only for text this program wrote itself (the CSS). */
export function trusted(text) {
  return new SafeHtml(String(text));
}

export function html(strings, ...values) {
  let out = strings[0];
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1];
  return new SafeHtml(out);
}

function render(value) {
  if (value instanceof SafeHtml) return value.text;
  if (Array.isArray(value)) return value.map(render).join('');
  if (value === undefined || value === null || value === false) return '';
  return escapeHtml(value);
}
