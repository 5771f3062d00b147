//! The accessibility and validity smoke check, run in the browser against a page's DOM:
//! a doctype, a language and a title; unique ids; every form control labelled; images and SVG
//! with text alternatives; one `h1` and no skipped heading level; links and buttons named; a
//! visible keyboard focus style; text contrast of at least 4.5:1 (3:1 for large text).
//! Returns the problems found, as text.

/// The check, as a WebDriver script returning an array of problems.
pub const CHECK: &str = r#"
const problems = [];
const doc = document;
if (!doc.doctype || doc.doctype.name !== "html") problems.push("no <!DOCTYPE html>");
if (!doc.documentElement.getAttribute("lang")) problems.push("<html> has no lang");
if (!doc.title.trim()) problems.push("no <title>");
const ids = {};
for (const el of doc.querySelectorAll("[id]")) {
  if (ids[el.id]) problems.push("duplicate id " + el.id);
  ids[el.id] = true;
}
const text = (el) => (el.textContent || "").trim();
const named = (el) => {
  if ((el.getAttribute("aria-label") || "").trim()) return true;
  const by = el.getAttribute("aria-labelledby");
  if (by && by.split(/\s+/).every((id) => doc.getElementById(id) && text(doc.getElementById(id)))) return true;
  return false;
};
for (const el of doc.querySelectorAll("input, select, textarea")) {
  if (el.type === "hidden") continue;
  const labelled = named(el) || el.closest("label") ||
    (el.id && doc.querySelector('label[for="' + CSS.escape(el.id) + '"]'));
  if (!labelled) problems.push("unlabelled " + el.tagName.toLowerCase() + " " + (el.name || el.id));
}
for (const img of doc.querySelectorAll("img")) {
  if (!img.hasAttribute("alt")) problems.push("img without alt: " + img.src);
}
for (const svg of doc.querySelectorAll("svg")) {
  const hidden = svg.getAttribute("aria-hidden") === "true";
  const title = svg.querySelector(":scope > title");
  if (!hidden && !(svg.getAttribute("role") === "img" && (named(svg) || (title && text(title)))))
    problems.push("svg without role=img and a text alternative");
}
const headings = [...doc.querySelectorAll("h1, h2, h3, h4, h5, h6")];
if (doc.querySelectorAll("h1").length !== 1) problems.push("expected one h1, found " + doc.querySelectorAll("h1").length);
let level = 0;
for (const h of headings) {
  const l = Number(h.tagName[1]);
  if (level && l > level + 1) problems.push("heading " + h.tagName + " '" + text(h) + "' skips a level after h" + level);
  if (!text(h)) problems.push("empty " + h.tagName);
  level = l;
}
for (const el of doc.querySelectorAll("a[href], button")) {
  if (!text(el) && !named(el)) problems.push("unnamed " + el.tagName.toLowerCase());
}
let focusStyle = false;
for (const sheet of doc.styleSheets) {
  let rules;
  try { rules = sheet.cssRules; } catch (e) { continue; }
  for (const rule of rules) {
    // A shorthand using var() leaves its longhands empty in the CSSOM: read the shorthand too.
    const outline = rule.style && (rule.style.outlineStyle || rule.style.getPropertyValue("outline"));
    if (rule.selectorText && rule.selectorText.includes(":focus") && outline &&
        !/none/.test(outline)) focusStyle = true;
  }
}
if (!focusStyle) problems.push("no visible :focus outline style");
const rgba = (s) => { const m = s.match(/[\d.]+/g) || []; return m.map(Number).concat([1]).slice(0, 4); };
const lum = ([r, g, b]) => {
  const c = [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
  return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
};
const background = (el) => {
  for (let e = el; e; e = e.parentElement) {
    const c = rgba(getComputedStyle(e).backgroundColor);
    if (c[3] > 0) return c;
  }
  return [255, 255, 255, 1];
};
const seen = new Set();
for (const el of doc.body.querySelectorAll("*")) {
  if (el.closest("svg") || el.closest(".visually-hidden") || el.closest(".skip")) continue;
  const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
  if (!own) continue;
  const style = getComputedStyle(el);
  if (style.visibility === "hidden" || style.display === "none" || el.offsetParent === null && style.position !== "fixed") continue;
  const fg = rgba(style.color), bg = background(el);
  const [l1, l2] = [lum(fg), lum(bg)].sort((a, b) => b - a);
  const ratio = (l1 + 0.05) / (l2 + 0.05);
  const size = parseFloat(style.fontSize), bold = Number(style.fontWeight) >= 700;
  const large = size >= 24 || (bold && size >= 18.66);
  const need = large ? 3 : 4.5;
  const key = style.color + "/" + bg.join(",");
  if (ratio < need && !seen.has(key)) {
    seen.add(key);
    problems.push("contrast " + ratio.toFixed(2) + " < " + need + " for '" + text(el).slice(0, 40) + "' (" + style.color + " on rgb(" + bg.slice(0, 3).join(",") + "))");
  }
}
return problems;
"#;
