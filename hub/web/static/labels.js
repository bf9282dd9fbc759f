// Chinese labels for the codes the API returns; a code without a label shows in English (the code itself).
"use strict";

const ZH = {
  agency: { court: "法院", police: "公安", civil_affairs: "民政", justice: "司法局", hub: "平台" },
  stage: {
    incident: "警情", referral: "移交调解", mediation: "调解", mediation_outcome: "调解结果", court_filing: "立案",
    service: "送达", hearing: "开庭", judgment: "判决/裁定", confirmation: "司法确认", enforcement: "执行",
    protection_order: "保护令", warning: "告诫", other: "其他",
  },
  event_type: {
    CaseFiled: "立案", DocumentsServed: "文书送达", HearingHeld: "开庭", JudgmentIssued: "判决/裁定",
    EnforcementUpdated: "执行", MediationAgreementConfirmed: "司法确认", ProtectionOrderIssued: "人身安全保护令",
    IncidentReported: "警情（110接处警）", DomesticViolenceWarningIssued: "家庭暴力告诫书",
    DisputeReferredToMediation: "警调对接（移交调解）", MarriageRegistered: "结婚登记", DivorceRegistered: "离婚登记",
    MediationCaseOpened: "人民调解受理", MediationConcluded: "人民调解结案", CommunityCorrectionStarted: "社区矫正接收",
    CommunityCorrectionEnded: "社区矫正解除", ReleasedPrisonerReceived: "刑满释放人员衔接",
    LegalAidApplied: "法律援助申请", LegalAidGranted: "法律援助指派",
  },
  role: {
    mediator: "人民调解员", judge: "法官", court_clerk: "书记员", police_officer: "民警",
    correction_officer: "社区矫正工作人员", legal_aid_officer: "法律援助工作人员",
    civil_affairs_registrar: "婚姻登记员", dpo: "数据保护官", integrator: "接入工程师",
    bureau_officer: "县司法局工作人员",
  },
  purpose: {
    dispute_mediation: "纠纷调解", adjudication: "审判", community_correction_supervision: "社区矫正监管",
    legal_aid_eligibility: "法律援助资格审查", risk_prevention: "风险防范", marriage_registration: "婚姻登记审查",
    consent_records: "当事人同意登记", erasure: "删除个人信息", audit: "审计", statistics: "统计监督",
  },
  party_role: {
    plaintiff: "原告", defendant: "被告", applicant: "申请人", respondent: "被申请人", third_party: "第三人",
    victim: "被害人", suspect: "嫌疑人", reporter: "报警人", involved: "涉事人", husband: "男方", wife: "女方",
    mediation_party: "调解当事人", supervisee: "矫正对象", aid_applicant: "受援人", opposing_party: "对方当事人",
    released_person: "刑满释放人员", protected_person: "受保护人", offender: "加害人", other: "其他",
  },
  field: {
    name: "姓名", id_number: "身份证号", id_type: "证件类型", date_of_birth: "出生日期", gender: "性别", phone: "电话",
    address: "住址", agency_person_id: "机构人员编号", is_minor: "未成年", kind: "类型", role: "身份",
    summary: "摘要", claim_summary: "诉讼请求", case_number: "案号", case_type: "案件类型", cause_of_action: "案由",
    cause_detail: "案由（原文）", tribunal: "审判庭", mediation_case_number: "调解案号", level: "调解层级",
    source: "来源", dispute_type: "纠纷类型", committee: "调委会", outcome: "结果", agreement_summary: "协议摘要",
    incident_number: "警情编号", category: "警情类别", location: "地点", warning_number: "告诫书编号",
    referral_number: "移交编号", target_committee: "接收调委会", registration_number: "登记编号",
    applied_at: "申请日期", judgment_summary: "裁判摘要", decision_kind: "裁判类型", sentence: "刑罚",
    hearing_kind: "开庭类型", service_method: "送达方式", document_type: "文书类型", status: "状态",
    amount_yuan: "金额（元）", correction_number: "矫正编号", correction_type: "矫正类型", risk_level: "风险等级",
    supervising_office: "监管司法所", end_date: "结束日期", reason: "原因", aid_number: "援助编号",
    matter_type: "事项类型", granted: "是否指派", law_firm: "律师事务所", handover_number: "衔接编号",
    prison_name: "监狱", released_at: "释放日期", offence: "罪名", measures: "措施", confirmed: "是否确认",
    original_case_number: "原案号", judgment_case_number: "判决案号", escalated_to: "上报至",
    received_in_person: "是否当面接收",
  },
  gender: { male: "男", female: "女", unknown: "未知" },
  mediation_level: { village: "村（社区）级", township: "乡镇（街道）级", county: "县级", unknown: "未注明" },
  level: { red: "红", yellow: "黄", blue: "蓝" },
  alert_status: { open: "待处理", acknowledged: "已知悉", resolved: "已解决", dismissed: "已排除", superseded: "已合并" },
  mask: { needs_consent: "需当事人同意", not_for_purpose: "本角色/目的不可见", erased: "已删除（密钥已销毁）",
    other_party: "非查询对象，仅显示基本信息" },
  field_class: { basic: "基本", contact: "联系方式", identifier: "身份标识", sensitive: "敏感" },
  reason: {
    unknown_token: "令牌无效，请重新登录", expired_token: "令牌已过期，请重新登录", revoked_token: "令牌已吊销",
    disabled_user: "用户已停用", role_not_held: "您没有该角色", no_rule: "该角色不能用于此目的",
    unknown_role: "未知角色", unknown_purpose: "未知目的", no_case: "请先选择案件", case_not_found: "案件不存在",
    wrong_case_kind: "案件类型与目的不符", case_closed: "案件已结案", no_subject: "未指定当事人",
    not_party: "此人不是本案当事人", not_supervising_office: "非本所监管对象", other_office: "非本单位案件",
    no_consent: "无当事人同意",
    break_glass_reason_too_short: "紧急查询理由过短", break_glass_rate_limited: "紧急查询次数已达上限",
    break_glass_role_not_permitted: "该角色不能紧急查询", body_too_large: "请求过大",
    other_county: "无权查看该县数据", malformed_county: "县代码应为6位数字",
    scope_not_offered: "该同意范围不在本目的可授权之列", no_consent_for_this_purpose: "本目的无需当事人同意",
    name_the_grantee_role: "请指定授予的角色", consent_not_found: "同意记录不存在",
    valid_until_in_the_past: "有效期已过", needs_oversight_reference: "请填写依据（申请、投诉或审计编号）",
    invalid_case_id: "案号无效", invalid_role: "角色无效", invalid_purpose: "目的无效",
    invalid_break_glass_reason: "紧急查询理由无效", malformed_person_id: "当事人编号格式不正确",
    lookup_needs_reason: "按身份标识查询须注明投诉或审计案件（complaint:… 或 audit:…）",
  },
  anomaly: {
    burst: "短时间内查询大量人员", off_hours: "非工作时间查询", no_open_case: "无在办案件的查询",
    repeated_denials: "多次被拒绝", identifier_lookup: "按身份标识查人（须有投诉或审计案件）",
  },
  decision: { allowed: "允许", denied: "拒绝" },
  alert_rule: {
    repeated_divorce_with_domestic_violence: "多次离婚登记且近期有家暴记录",
    new_incident_under_community_correction: "社区矫正期间发生新警情",
    urgent_matter_without_response_72h: "紧急事项72小时内未处置（绿色通道）",
    mediation_overdue: "人民调解超过30天未结",
  },
  dispute_type: {
    marriage_family: "婚姻家庭", neighbour: "邻里", land_homestead: "土地承包/宅基地", labour_wages: "劳动争议/欠薪",
    private_lending: "民间借贷/债务", traffic_accident: "交通事故", property_management: "物业",
    online_shopping: "网络购物/消费", medical: "医疗", damages: "损害赔偿", land_requisition: "征地拆迁", other: "其他",
    unknown: "未注明",
  },
};

/** The Chinese label of a code, or the code itself (English) when there is none. */
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
