// Chinese labels for the codes the API returns; a code without a label shows as the code itself.
"use strict";

/** The Chinese labels of the codes the API returns: hub/web/static/labels.json, the one table that the
 *  pages and the hub's own Chinese texts (the DPO report's anomaly details) share. `await LABELS_READY`
 *  before the first render. */
const ZH = {};
const LABELS_READY = fetch("/static/labels.json").then((r) => r.json()).then((data) => Object.assign(ZH, data));

/** The Chinese label of a code, or the code itself when there is none. */
function label(kind, code) {
  if (code === null || code === undefined || code === "") return "—";
  const table = ZH[kind] || {};
  return Object.prototype.hasOwnProperty.call(table, code) ? table[code] : String(code);
}

/** Build a DOM element; children are nodes or text (never parsed as HTML). */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** The agencies' time zone: the hub's setting, as /api/v1/me reports it (set on sign-in). */
let ZONE = "Asia/Shanghai";

/** Local date (in the agencies' zone, never the UTC date) of an ISO timestamp. */
function localDate(iso, withTime) {
  if (!iso) return "—";
  const options = { timeZone: ZONE, year: "numeric", month: "2-digit", day: "2-digit" };
  if (withTime) Object.assign(options, { hour: "2-digit", minute: "2-digit", hour12: false });
  return new Date(iso).toLocaleString("zh-CN", options);
}

/** The X-JustLink-* context headers of a call. HTTP header values are ISO-8859-1, so each value
 *  travels percent-encoded as UTF-8 (the server decodes it): a case number as the agency writes it,
 *  （2025）城关调字第2号, fits. hub/services/transport.py is the same rule on the server and the CLI. */
function contextHeaders(context) {
  const headers = {};
  if (context.token) headers.Authorization = "Bearer " + encodeURIComponent(context.token);
  if (context.role) headers["X-JustLink-Role"] = encodeURIComponent(context.role);
  if (context.purpose) headers["X-JustLink-Purpose"] = encodeURIComponent(context.purpose);
  if (context.caseId) headers["X-JustLink-Case"] = encodeURIComponent(context.caseId);
  return headers;
}

/** The calendar day after YYYY-MM-DD (an inclusive "until" day as an exclusive bound). */
function dayAfter(day) {
  const d = new Date(day + "T00:00:00Z");
  d.setUTCDate(d.getUTCDate() + 1);
  return d.toISOString().slice(0, 10);
}

/** "justice:城关司法所" as people say it: 司法局 · 城关司法所. */
function organisationText(organisation) {
  const [agency, name] = (organisation || "").split(":", 2);
  return name ? `${label("agency", agency)} · ${name}` : organisation;
}

/** The legal basis of an access, in Chinese: the rule's statute (labels.json legal_basis, by rule id),
 *  the party's consent it rests on or adds to, a break-glass; the policy's own text when unlabelled. */
function legalBasisText(access) {
  const statute = (ZH.legal_basis || {})[access.rule];
  if (statute === undefined) return access.legal_basis;
  const consent = access.consent_id ? `当事人同意（${access.consent_id}）` : "";
  const parts = statute === "当事人同意" ? [consent || statute] : [statute, consent];
  if (access.break_glass) parts.unshift("紧急查询");
  return parts.filter(Boolean).join("；");
}

/** A criminal sentence, '<kind>:<months>' on the record (probation: the months of 考验期), in words. */
function sentenceText(value) {
  const [kind, months] = String(value).split(":");
  const n = Number(months) || 0;
  const name = label("sentence", kind);
  if (!n) return name;
  return kind === "probation" ? `${name}（考验期${n}个月）` : `${name}${n}个月`;
}

/** The label of a record field's value: enumerations by the field's table (labels.json field_enum). */
function fieldLabel(key, value) {
  if (key === "sentence") return sentenceText(value);
  const table = (ZH.field_enum || {})[key];
  return table ? label(table, value) : String(value);
}

/** Call the API with the signed-in context; resolves to JSON, rejects with {status, reason}. */
async function api(path, context, options) {
  const headers = Object.assign({ Accept: "application/json" }, contextHeaders(context));
  const init = Object.assign({ headers }, options || {});
  if (init.body) headers["Content-Type"] = "application/json";
  const response = await fetch(path, init);
  const type = response.headers.get("content-type") || "";
  const body = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok) {
    const error = (body && body.error) || {};
    throw { status: response.status, reason: error.reason || (body && body.detail ? "invalid_request" : "error"),
            rule: error.rule, auditSeq: error.audit_seq, valid: error.valid };
  }
  return body;
}

function errorText(err) {
  const reason = label("reason", err.reason);
  const seq = err.auditSeq !== undefined && err.auditSeq !== null ? `（审计记录 #${err.auditSeq}）` : "";
  return `${err.status || ""} ${reason}${seq}`;
}
