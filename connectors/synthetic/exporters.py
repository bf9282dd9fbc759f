"""Writes events as the agencies' own exports (Chinese headers, each agency's id formats, date
styles and encodings) plus the ground truth. See EXPORT_FORMATS.md for the layouts."""

from __future__ import annotations

import csv
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

from connectors.synthetic import addresses as geo
from connectors.synthetic import ids
from connectors.synthetic.names import noisy_name
from connectors.synthetic.people import Org, Person
from connectors.synthetic.records import DISPUTE_LABELS, Ev, Rec

# --- noise --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Noise:
    homophone: float
    traditional: float
    id_missing: float
    id_typo: float
    id15: float
    phone_missing: float
    stale_phone: float
    address_prefix: tuple[float, float, float, float]  # full / city+county / county / none


NOISE: dict[str, Noise] = {
    "court": Noise(0.01, 0.005, 0.03, 0.01, 0.003, 0.05, 0.10, (3, 3, 3, 1)),
    "police": Noise(0.05, 0.01, 0.40, 0.02, 0.005, 0.12, 0.12, (0, 1, 3, 6)),
    "civil_affairs": Noise(0.005, 0.01, 0.0, 0.005, 0.002, 0.05, 0.05, (6, 2, 2, 0)),
    "mediation": Noise(0.03, 0.01, 0.15, 0.02, 0.005, 0.05, 0.10, (0, 1, 4, 5)),
    "correction": Noise(0.005, 0.003, 0.0, 0.005, 0.0, 0.0, 0.05, (3, 3, 3, 1)),
    "legal_aid": Noise(0.01, 0.005, 0.02, 0.02, 0.002, 0.02, 0.10, (1, 2, 4, 3)),
    "release": Noise(0.01, 0.005, 0.0, 0.01, 0.01, 0.25, 0.20, (3, 3, 3, 1)),
    "notice": Noise(0.005, 0.005, 0.0, 0.005, 0.01, 1.0, 0.0, (6, 2, 2, 0)),   # the prison's: no phone
}


def render_person(p: Person, when: date, noise: Noise, rng: random.Random) -> dict[str, str]:
    """The person as a clerk typed them on `when`: address where they lived then; a mover's registered
    residence (户籍) stays in the home county."""
    r = rng.random()
    if r < noise.id_missing:
        id_number = ""
    elif r < noise.id_missing + noise.id_typo:
        id_number = ids.typo(p.id18, rng)
    elif r < noise.id_missing + noise.id_typo + noise.id15 and p.birth.year < 1985:
        id_number = ids.to_id15(p.id18)
    else:
        id_number = p.id18
    r = rng.random()
    if r < noise.phone_missing:
        phone = ""
    elif p.landline and r < noise.phone_missing + 0.3:
        phone = p.landline
    elif r > 1 - noise.stale_phone:
        phone = p.previous_phone(when) or p.phone_at(when)
    else:
        phone = p.phone_at(when)
    addr = p.address_at(when)
    address = geo.county(addr.county).render_address(addr, rng, noise.address_prefix)
    hukou = p.hukou
    if hukou is None and p.move is not None and addr.county != p.move.home:
        hukou = geo.county(p.move.home).render_address(p.move.before, rng, noise.address_prefix)
    return {
        "name": noisy_name(p.name, rng, noise.homophone, noise.traditional), "kind": "自然人", "id": id_number,
        "gender": "男" if p.male else "女", "birth": p.birth.isoformat(), "age": str(p.age_at(when)),
        "phone": phone, "address": address, "hukou": hukou or address, "ethnicity": p.ethnicity,
        "id_type": "居民身份证" if id_number else "",
    }


def render_org(o: Org, rng: random.Random, with_code: bool) -> dict[str, str]:
    name = o.name
    if rng.random() < 0.08:  # clerks drop the county prefix or the legal form
        name = name.removeprefix(geo.county(o.county).name).removesuffix("有限公司") or name
    return {"name": name, "kind": "法人", "id": o.uscc if with_code else "", "address": o.address,
            "id_type": "统一社会信用代码" if with_code else ""}


# --- file layouts -------------------------------------------------------------------------------------
PartyFields = tuple[tuple[str, str], ...]  # (column suffix, rendered field)
COURT_FIELDS: PartyFields = (("名称", "name"), ("类型", "kind"), ("诉讼地位", "role"), ("证件号码", "id"),
                             ("性别", "gender"), ("出生日期", "birth"), ("联系电话", "phone"), ("住址", "address"))
POLICE_FIELDS: PartyFields = (("姓名", "name"), ("身份", "role"), ("证件号码", "id"), ("性别", "gender"),
                              ("年龄", "age"), ("联系电话", "phone"), ("现住址", "address"))
MEDIATION_FIELDS: PartyFields = (("姓名", "name"), ("类别", "role"), ("身份证号", "id"), ("性别", "gender"),
                                 ("出生日期", "birth"), ("联系电话", "phone"), ("住址", "address"))
SPOUSE_FIELDS: PartyFields = (("姓名", "name"), ("证件类型", "id_type"), ("证件号码", "id"), ("出生日期", "birth"),
                              ("民族", "ethnicity"), ("联系电话", "phone"), ("户籍地址", "hukou"))
SUBJECT_FIELDS: PartyFields = (("姓名", "name"), ("性别", "gender"), ("民族", "ethnicity"), ("身份证号", "id"),
                               ("出生日期", "birth"), ("联系电话", "phone"), ("居住地址", "address"),
                               ("户籍地址", "hukou"))
AID_FIELDS: PartyFields = (("姓名", "name"), ("性别", "gender"), ("身份证号", "id"), ("出生日期", "birth"),
                           ("联系电话", "phone"), ("住址", "address"))
OPPONENT_FIELDS: PartyFields = (("名称", "name"), ("类型", "kind"), ("证件号码", "id"), ("住址", "address"))
MAX_PARTIES = 4


@dataclass(frozen=True)
class FileSpec:
    path: str
    agency: str
    encoding: str
    noise: str
    kinds: tuple[str, ...]
    columns: tuple[str, ...]  # record columns (the key column first)
    party_groups: tuple[tuple[str, PartyFields], ...]  # (column prefix, fields), party_index = position + 1
    single_step: bool = False  # the record key is the agency id alone

    @property
    def header(self) -> list[str]:
        return list(self.columns) + [prefix + suffix for prefix, fields in self.party_groups for suffix, _ in fields]


def _numbered(prefix: str, fields: PartyFields) -> tuple[tuple[str, PartyFields], ...]:
    return tuple((f"{prefix}{i}", fields) for i in range(1, MAX_PARTIES + 1))


FILES: tuple[FileSpec, ...] = (
    FileSpec("court/court_case_nodes.csv", "court", "utf-8", "court",
             ("civil", "criminal", "admin", "enforcement", "confirmation", "protection"),
             ("流程节点ID", "案号", "节点序号", "节点名称", "节点日期", "案件类型", "案由", "承办部门", "立案日期",
              "诉讼标的额", "关联案号", "送达方式", "开庭地点", "结案方式", "裁判结果", "主刑", "刑期月数",
              "缓刑考验期月数", "执行状态", "执行到位金额", "保护令有效期月数"),
             _numbered("当事人", COURT_FIELDS)),
    FileSpec("police/police_incidents.csv", "police", "utf-8-sig", "police", ("incident",),
             ("处警记录号", "警情编号", "环节", "环节时间", "接警时间", "报警方式", "管辖单位", "警情类别",
              "纠纷类型", "发生地点", "简要案情", "告诫书文号", "移交单号", "移交调解组织"),
             _numbered("涉案人员", POLICE_FIELDS)),
    FileSpec("civil_affairs/marriage_registrations.csv", "civil_affairs", "gb18030", "civil_affairs",
             ("marriage", "divorce"),
             ("业务编号", "登记类型", "登记日期", "登记机关", "证字号", "离婚申请日期", "冷静期届满日期"),
             (("男方", SPOUSE_FIELDS), ("女方", SPOUSE_FIELDS)), single_step=True),
    FileSpec("justice/mediation_cases.csv", "justice", "utf-8", "mediation", ("mediation",),
             ("记录ID", "调解案件编号", "环节", "环节日期", "受理日期", "调解组织", "调解组织层级", "案件来源",
              "来源单号", "纠纷类型", "纠纷简要情况", "涉及金额", "当事人关系", "调解结果", "上报至"),
             _numbered("当事人", MEDIATION_FIELDS)),
    FileSpec("justice/community_corrections.csv", "justice", "utf-8", "correction", ("correction",),
             ("记录ID", "矫正编号", "环节", "环节日期", "矫正类别", "风险等级", "负责司法所", "判决法院",
              "判决案号", "罪名", "矫正期限起", "矫正期限止", "解除原因"),
             (("矫正对象", SUBJECT_FIELDS),)),
    FileSpec("justice/legal_aid.csv", "justice", "utf-8", "legal_aid", ("legal_aid",),
             ("记录ID", "援助案件编号", "环节", "环节日期", "申请日期", "援助事项", "纠纷类型", "涉及金额",
              "承办机构"),
             (("受援人", AID_FIELDS), ("对方当事人", OPPONENT_FIELDS))),
    FileSpec("justice/released_prisoners.csv", "justice", "utf-8", "release", ("release",),
             ("衔接编号", "接收日期", "原服刑单位", "原判法院", "原判案号", "罪名", "刑期月数", "刑满释放日期",
              "衔接方式", "接收司法所"),
             (("", SUBJECT_FIELDS),), single_step=True),
    FileSpec("justice/release_notices.csv", "justice", "utf-8", "notice", ("notice",),
             ("通知书编号", "释放日期", "原服刑单位", "原判案号", "接收地区划代码", "接收司法所"),
             (("", SUBJECT_FIELDS),), single_step=True),
)
SIDE_KINDS = ("notice",)
KIND_TO_FILE: dict[str, FileSpec] = {kind: spec for spec in FILES for kind in spec.kinds}

TRUTH_FILES: dict[str, tuple[str, ...]] = {
    "truth/persons.csv": ("agency", "record_key", "party_index", "true_person_id"),
    "truth/disputes.csv": ("agency", "record_key", "true_dispute_id", "dispute_type"),
    "truth/events.csv": ("agency", "record_key", "file", "event_type"),
}
# Several counties: one truth for all, each row with the county (division code) whose export holds it,
# and the movers.
COUNTIES_TRUTH_FILES: dict[str, tuple[str, ...]] = {
    **{path: ("county", *columns) for path, columns in TRUTH_FILES.items()},
    "truth/movers.csv": ("true_person_id", "from_county", "to_county", "moved_on", "story"),
}

# --- record ids ----------------------------------------------------------------------------------------
COURT_WORDS = {"civil": "民初", "criminal": "刑初", "admin": "行初", "enforcement": "执", "confirmation": "民特",
               "protection": "民保令"}
COURT_TYPES = {"civil": "民事", "criminal": "刑事", "admin": "行政", "enforcement": "执行",
               "confirmation": "民事特别程序", "protection": "人身安全保护令"}
LEVEL_LABELS = {"village": "村(社区)级", "township": "乡镇(街道)级", "county": "县级"}
SOURCE_LABELS = {"walk_in": "群众申请", "police_referral": "公安移交", "court_referral": "法院委派",
                 "grid_inspection": "网格排查", "escalated": "下级调委会上报"}
OUTCOME_LABELS = {"agreement": "调解成功", "failed": "调解不成", "escalated": "上报"}
POLICE_CATEGORIES = {"domestic_dispute": "家庭纠纷", "neighbour_dispute": "邻里纠纷", "fight": "打架斗殴",
                     "fraud": "诈骗", "domestic_violence": "家庭暴力", "wage_arrears": "讨薪",
                     "traffic": "交通事故", "theft": "盗窃", "other": "其他"}


def committee_short(committee: str, county: geo.County) -> str:
    short = committee.removeprefix(county.name).removesuffix("人民调解委员会")
    for long, abbreviated in (("疑难纠纷调处专班", "专班"), ("医疗纠纷", "医调"), ("道路交通事故纠纷", "交调")):
        short = short.replace(long, abbreviated)
    for word in ("镇", "乡", "村", "社区"):
        short = short.replace(word, "")
    return short or county.short


def _d(value: datetime | date | None) -> str:
    return value.strftime("%Y-%m-%d") if value else ""


class Truth:
    """The ground-truth files: one set for all counties, with a county column when there are several."""

    def __init__(self, out: Path, with_county: bool) -> None:
        self.with_county = with_county
        self.columns = COUNTIES_TRUTH_FILES if with_county else TRUTH_FILES
        self.rows: Counter[str] = Counter()
        self._handles: list[IO[str]] = []
        self.writers: dict[str, Any] = {path: _open(out / path, "utf-8", list(header), self._handles)
                                        for path, header in self.columns.items()}

    def record(self, county: geo.County, spec: FileSpec, key: str, ev: Ev) -> None:
        rec = ev.rec
        where = (county.code,) if self.with_county else ()
        persons = self.writers["truth/persons.csv"]
        for index, (who, _) in enumerate(rec.parties, start=1):
            persons.writerow((*where, spec.agency, key, index, who.pid if isinstance(who, Person) else who.oid))
        self.writers["truth/disputes.csv"].writerow((*where, spec.agency, key, rec.dispute_id, rec.dispute_type))
        self.writers["truth/events.csv"].writerow((*where, spec.agency, key, spec.path, ev.event_type))
        self.rows["truth/persons.csv"] += len(rec.parties)
        self.rows["truth/disputes.csv"] += 1
        self.rows["truth/events.csv"] += 1

    def mover(self, person: Person) -> None:
        move = person.move
        assert move is not None
        self.writers["truth/movers.csv"].writerow((person.pid, geo.county(move.home).code,
                                                   geo.county(move.county).code, _d(move.when), move.kind))
        self.rows["truth/movers.csv"] += 1

    def close(self) -> None:
        for handle in self._handles:
            handle.close()


def _open(path: Path, encoding: str, header: list[str], handles: list[IO[str]]) -> Any:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("w", encoding=encoding, newline="")
    handles.append(handle)
    writer = csv.writer(handle, lineterminator="\r\n")
    writer.writerow(header)
    return writer


class Exporter:
    """One county's seven export files and its id counters."""

    def __init__(self, out: Path, county: geo.County) -> None:
        self.out, self.county = out, county
        self.counters: Counter[tuple[Any, ...]] = Counter()
        self.rows: Counter[str] = Counter()
        self.event_types: Counter[str] = Counter()
        self._handles: list[IO[str]] = []
        self.writers: dict[str, Any] = {spec.path: _open(out / spec.path, spec.encoding, spec.header, self._handles)
                                        for spec in FILES}

    def close(self) -> None:
        for handle in self._handles:
            handle.close()

    def _next(self, *key: Any) -> int:
        self.counters[key] += 1
        return self.counters[key]

    # --- ids
    def _assign_id(self, rec: Rec, when: datetime) -> None:
        y, kind, a, county = when.year, rec.kind, rec.attrs, self.county
        if kind in COURT_WORDS:
            rec.id = f"（{y}）{county.court_code}{COURT_WORDS[kind]}{self._next('court', kind, y)}号"
        elif kind == "incident":
            station = f"{county.code}{a['station'] + 1:02d}0000"
            rec.id = f"J{station}{when:%Y%m%d}{self._next('incident', station, when.date()):04d}"
        elif kind in ("marriage", "divorce"):
            rec.id = f"{county.code}{y}{self._next('registration', y):06d}"
            letter = "J" if kind == "marriage" else "L"
            a["certificate"] = f"{letter}{county.code}-{y}-{self._next('certificate', letter, y):06d}"
        elif kind == "mediation":
            short = committee_short(a["committee"], county)
            rec.id = f"（{y}）{county.number_prefix}{short}调字第{self._next('mediation', short, y)}号"
        elif kind == "correction":
            rec.id = f"{county.code}{y}JZ{self._next('correction', y):04d}"
        elif kind == "legal_aid":
            rec.id = f"（{y}）{county.abbr}法援字第{self._next('legal_aid', y)}号"
        elif kind == "release":
            rec.id = f"AZ{county.code}{y}{self._next('release', y):04d}"
        elif kind == "notice":   # the prison's number, as the forwarding county's bureau files it
            rec.id = f"SF{county.code}-{y}{self._next('notice', y):05d}"
        else:
            raise ValueError(f"record kind {kind!r}: no id format")

    # --- rows
    def write(self, ev: Ev, rng: random.Random, truth: Truth) -> None:
        rec = ev.rec
        if not rec.id:
            self._assign_id(rec, ev.when)
        if rec.ref is not None and not rec.ref.id:
            raise ValueError(f"record {rec.id}: refers to a record not yet written")
        rec.steps_written += 1
        spec = KIND_TO_FILE[rec.kind]
        key = rec.id if spec.single_step else f"{rec.id}#{rec.steps_written}"
        if rec.rendered_parties is None:
            rec.rendered_parties = self._render_parties(rec, spec, ev.when.date(), rng)
        values = ROW_BUILDERS[spec.path](ev, rec, self._next, self.county)
        values[spec.columns[0]] = key
        row = [values.get(column, "") for column in spec.columns]
        for (_, fields), party in zip(spec.party_groups, rec.rendered_parties + [{}] * MAX_PARTIES, strict=False):
            row.extend(party.get(field, "") for _, field in fields)
        self.writers[spec.path].writerow(row)
        self.rows[spec.path] += 1
        self.event_types[ev.event_type] += 1
        truth.record(self.county, spec, key, ev)

    def _render_parties(self, rec: Rec, spec: FileSpec, when: date, rng: random.Random) -> list[dict[str, str]]:
        if len(rec.parties) > len(spec.party_groups):
            raise ValueError(f"record {rec.id}: {len(rec.parties)} parties, at most {len(spec.party_groups)}")
        noise = NOISE[spec.noise]
        rendered = []
        for who, role in rec.parties:
            if isinstance(who, Person):
                fields = render_person(who, when, noise, rng)
            else:
                fields = render_org(who, rng, with_code=spec.agency == "court" or rng.random() < 0.3)
            fields["role"] = role
            rendered.append(fields)
        return rendered


class Exports:
    """The exporters of every county and the one truth; writes one sorted chunk of events at a time,
    each event into the export of its record's county."""

    def __init__(self, exporters: dict[int, Exporter], truth: Truth, seed: int) -> None:
        self.exporters, self.truth, self.seed = exporters, truth, seed

    def write_chunk(self, events: list[Ev], chunk_no: int) -> None:
        rng = random.Random(f"{self.seed}:render:{chunk_no}")
        # records added later render from a generator of their own: the older records' noise stays as it was
        side = random.Random(f"{self.seed}:render-notices:{chunk_no}")
        for ev in events:
            self.exporters[ev.rec.county].write(ev, side if ev.rec.kind in SIDE_KINDS else rng, self.truth)

    def close(self) -> None:
        for exporter in self.exporters.values():
            exporter.close()
        self.truth.close()


# --- per-file row builders: (event, record, counter) -> {column: value} --------------------------------
NextNumber = Callable[..., int]  # the exporter's counter: next number for a key such as ("warning", 城关, 2025)


def _court_row(ev: Ev, rec: Rec, nxt: NextNumber, county: geo.County) -> dict[str, str]:
    a, d = rec.attrs, ev.data
    row = {"案号": rec.id, "节点序号": str(rec.steps_written), "节点名称": ev.step, "节点日期": _d(ev.when),
           "案件类型": COURT_TYPES[rec.kind], "案由": a["cause"], "承办部门": a["tribunal"],
           "诉讼标的额": str(a["amount"]) if a.get("amount") else "", "关联案号": rec.ref.id if rec.ref else ""}
    if rec.steps_written == 1:
        a["filed"] = _d(ev.when)
    row["立案日期"] = a.get("filed", _d(ev.when))
    if ev.step == "送达":
        row["送达方式"] = d["method"]
    elif ev.step == "开庭":
        row["开庭地点"] = d["room"]
    elif ev.step in ("结案", "司法确认"):
        row["结案方式"], row["裁判结果"] = d["decision"], d["outcome"]
        sentence = d.get("sentence")
        if sentence:
            kind, months, probation = sentence
            row["主刑"] = "有期徒刑" if kind == "缓刑" else kind
            row["刑期月数"], row["缓刑考验期月数"] = str(months), str(probation) if probation else ""
    elif ev.step == "执行":
        row["执行状态"], row["执行到位金额"] = d["status"], str(d["paid"])
    elif ev.step == "保护令":
        row["结案方式"], row["裁判结果"] = "裁定", "准予人身安全保护令"
        row["保护令有效期月数"] = str(d["months"])
    return row


def _police_row(ev: Ev, rec: Rec, nxt: NextNumber, county: geo.County) -> dict[str, str]:
    a = rec.attrs
    if rec.steps_written == 1:
        a["reported"] = ev.when.strftime("%Y-%m-%d %H:%M:%S")
    category = a["category"]
    row = {"警情编号": rec.id, "环节": {"接警": "接警登记", "告诫": "出具家庭暴力告诫书", "移交调解": "移交人民调解"}[ev.step],
           "环节时间": ev.when.strftime("%Y-%m-%d %H:%M:%S"), "接警时间": a["reported"], "报警方式": a["channel"],
           "管辖单位": county.police_station(a["station"]), "警情类别": POLICE_CATEGORIES[category],
           "纠纷类型": DISPUTE_LABELS[rec.dispute_type] if category not in ("fraud",) and rec.dispute_type else "",
           "发生地点": a["location"], "简要案情": a["summary"]}
    if ev.step == "告诫":
        short = county.townships[a["station"]][1]
        row["告诫书文号"] = f"{county.abbr}公（{short}）家暴告字〔{ev.when.year}〕{nxt('warning', short, ev.when.year)}号"
    elif ev.step == "移交调解":
        row["移交单号"] = f"{county.number_prefix}警调移字〔{ev.when.year}〕{nxt('referral', ev.when.year):05d}号"
        row["移交调解组织"] = ev.data["committee"]
    return row


COOLING_OFF_FROM = datetime(2021, 1, 1)


def _registration_row(ev: Ev, rec: Rec, nxt: NextNumber, county: geo.County) -> dict[str, str]:
    row = {"登记类型": "结婚登记" if rec.kind == "marriage" else "离婚登记", "登记日期": ev.when.strftime("%Y/%m/%d"),
           "登记机关": rec.attrs["office"], "证字号": rec.attrs["certificate"]}
    if rec.kind == "divorce" and ev.when >= COOLING_OFF_FROM:  # the 30-day cooling-off began in 2021
        applied: date = ev.data["applied"]
        row["离婚申请日期"] = applied.strftime("%Y/%m/%d")
        row["冷静期届满日期"] = date.fromordinal(applied.toordinal() + 30).strftime("%Y/%m/%d")
    return row


# 当事人关系 as a committee records it: by the kind of dispute, "与单位" when a party is a company or office.
RELATIONSHIP_LABELS = {"marriage_family": "家庭成员", "neighbour": "邻里", "land_homestead": "邻里", "labour_wages": "劳务",
                       "private_lending": "熟人", "traffic_accident": "陌生人", "damages": "熟人", "other": "合同"}


def relationship_label(rec: Rec) -> str:
    if any(isinstance(who, Org) for who, _ in rec.parties):
        return "与单位"
    return RELATIONSHIP_LABELS.get(rec.dispute_type, "")


def _mediation_row(ev: Ev, rec: Rec, nxt: NextNumber, county: geo.County) -> dict[str, str]:
    a = rec.attrs
    if rec.steps_written == 1:
        a["opened"] = _d(ev.when)
    row = {"调解案件编号": rec.id, "环节": ev.step, "环节日期": _d(ev.when), "受理日期": a["opened"],
           "调解组织": a["committee"], "调解组织层级": LEVEL_LABELS[a["level"]], "案件来源": SOURCE_LABELS[a["source"]],
           "来源单号": rec.ref.id if rec.ref else "", "纠纷类型": DISPUTE_LABELS[rec.dispute_type],
           "纠纷简要情况": a["summary"], "涉及金额": str(a["amount"]) if a["amount"] else "",
           "当事人关系": relationship_label(rec)}
    if ev.step == "结案":
        row["调解结果"] = OUTCOME_LABELS[ev.data["outcome"]]
        row["上报至"] = ev.data["escalated_to"]
    return row


def _correction_row(ev: Ev, rec: Rec, nxt: NextNumber, county: geo.County) -> dict[str, str]:
    a = rec.attrs
    return {"矫正编号": rec.id, "环节": ev.step, "环节日期": _d(ev.when), "矫正类别": a["correction_type"],
            "风险等级": a["risk"], "负责司法所": a["office"], "判决法院": county.court_name,
            "判决案号": rec.ref.id if rec.ref else "", "罪名": a["offence"], "矫正期限起": _d(a["term_start"]),
            "矫正期限止": _d(a["term_end"]), "解除原因": ev.data.get("reason", "")}


def _legal_aid_row(ev: Ev, rec: Rec, nxt: NextNumber, county: geo.County) -> dict[str, str]:
    a = rec.attrs
    if rec.steps_written == 1:
        a["applied"] = _d(ev.when)
    return {"援助案件编号": rec.id, "环节": ev.step, "环节日期": _d(ev.when), "申请日期": a["applied"],
            "援助事项": a["matter"], "纠纷类型": DISPUTE_LABELS[rec.dispute_type], "涉及金额": str(a["amount"]),
            "承办机构": ev.data.get("provider", "")}


def _release_row(ev: Ev, rec: Rec, nxt: NextNumber, county: geo.County) -> dict[str, str]:
    a = rec.attrs
    return {"接收日期": _d(ev.when), "原服刑单位": a["prison"], "原判法院": a["court"],
            "原判案号": rec.ref.id if rec.ref else a["old_case"], "罪名": a["offence"], "刑期月数": str(a["months"]),
            "刑满释放日期": _d(a["released"]), "衔接方式": a["handover"], "接收司法所": a["office"]}


def _notice_row(ev: Ev, rec: Rec, nxt: NextNumber, county: geo.County) -> dict[str, str]:
    a = rec.attrs
    return {"释放日期": _d(a["released"]), "原服刑单位": a["prison"], "原判案号": rec.ref.id if rec.ref else a["old_case"],
            "接收地区划代码": a["to_county"], "接收司法所": a["office"]}


ROW_BUILDERS: dict[str, Callable[[Ev, Rec, NextNumber, geo.County], dict[str, str]]] = {
    "court/court_case_nodes.csv": _court_row, "police/police_incidents.csv": _police_row,
    "civil_affairs/marriage_registrations.csv": _registration_row, "justice/mediation_cases.csv": _mediation_row,
    "justice/community_corrections.csv": _correction_row, "justice/legal_aid.csv": _legal_aid_row,
    "justice/released_prisoners.csv": _release_row, "justice/release_notices.csv": _notice_row,
}
