"""Life stories that cross agencies. Each person is the protagonist of a few stories, drawn from a
per-person RNG; counterparties (spouses, neighbours, co-workers) come from the same chunk of persons.

A story appends events (procedural steps on records) to the chunk's list; events after the export
date are dropped, which leaves ongoing cases open as in a real export."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta

from connectors.synthetic import addresses as geo
from connectors.synthetic.people import Org, Person, orgs, resident_after_move
from connectors.synthetic.records import Entity, Ev, Rec

WINDOW_START = datetime(2019, 1, 1)
EXPORT_END = datetime(2025, 6, 30, 23, 59, 59)
_WINDOW_DAYS = (EXPORT_END - WINDOW_START).days
SHOWCASE_LAST_START = datetime(2020, 12, 31)


def adult_from(person: Person, years: int = 18) -> datetime:
    b = person.birth
    return datetime(b.year + years, b.month, 28 if (b.month, b.day) == (2, 29) else b.day)


def office_time(when: datetime, rng: random.Random) -> datetime:
    """The same or next working day, during office hours."""
    day = when.date()
    while day.weekday() >= 5:
        day += timedelta(days=1)
    base = datetime(day.year, day.month, day.day, 8, 30)
    moment = base + timedelta(minutes=rng.randrange(8 * 60))
    return moment if moment > when else when + timedelta(minutes=30 + rng.randrange(90))


def police_time(when: datetime, rng: random.Random) -> datetime:
    """A time on the same day, more often in the evening; never before ``when``."""
    hour = rng.choices(range(24), weights=(3, 2, 1, 1, 1, 1, 2, 3, 4, 5, 5, 5, 5, 5, 5, 5, 5, 6, 7, 8, 8, 7, 6, 4))[0]
    moment = datetime(when.year, when.month, when.day, hour, rng.randrange(60), rng.randrange(60))
    return moment if moment >= when else when + timedelta(minutes=rng.randrange(1, 120))


def lives_here(p: Person, at: datetime) -> bool:
    """False once a mover has left the county of the chunk (`p.addr` is the home address there)."""
    return p.move is None or at < p.move.when


class Chunk:
    """Persons of one chunk (all living in `county`), their neighbourhoods and marriages, and the events
    written so far."""

    def __init__(self, persons: list[Person], rng: random.Random, county: geo.County = geo.QINGYUAN) -> None:
        self.persons = persons
        self.county = county
        self.events: list[Ev] = []
        self.hoods: dict[tuple[int, int, bool], list[Person]] = {}
        for p in persons:
            self.hoods.setdefault(p.addr.neighbourhood, []).append(p)
        self.spouse: dict[int, Person] = {}
        men = sorted((p for p in persons if p.male and rng.random() < 0.72), key=lambda p: p.birth)
        women = sorted((p for p in persons if not p.male and rng.random() < 0.72), key=lambda p: p.birth)
        for husband, wife in zip(men, women, strict=False):
            self.spouse[husband.index] = wife
            self.spouse[wife.index] = husband
        self.singles = [p for p in persons if p.index not in self.spouse]
        self.taken: set[int] = set()  # singles who already remarried in this chunk

    def someone(self, rng: random.Random, at: datetime, exclude: Person, years: int = 18) -> Person:
        for _ in range(20):
            other = rng.choice(self.persons)
            if other is not exclude and adult_from(other, years) <= at and lives_here(other, at):
                return other
        return min((p for p in self.persons if p is not exclude), key=lambda p: p.birth)

    def neighbour(self, rng: random.Random, at: datetime, of: Person) -> Person:
        hood = [p for p in self.hoods.get(of.addr.neighbourhood, ())
                if p is not of and adult_from(p) <= at and lives_here(p, at)]
        return rng.choice(hood) if hood else self.someone(rng, at, of)

    def partner(self, rng: random.Random, at: datetime, of: Person) -> Person | None:
        """A single of the other sex, of marriageable age at `at`, not yet taken in this chunk."""
        if not self.singles:
            return None
        for _ in range(10):
            other = rng.choice(self.singles)
            if other.male != of.male and other.index not in self.taken and other.move is None and \
                    adult_from(other, 22 if other.male else 20) <= at:
                self.taken.add(other.index)
                return other
        return None


class Story:
    """One dispute (or registration thread) told by one protagonist."""

    def __init__(self, chunk: Chunk, person: Person, number: int, rng: random.Random,
                 dispute_type: str, showcase: bool = False, since: datetime | None = None,
                 until: datetime | None = None) -> None:
        self.chunk, self.p, self.number, self.rng = chunk, person, number, rng
        self.county = chunk.county
        self.dispute_type = dispute_type
        self.dispute_id = f"D{person.index:08d}-{number:02d}" if dispute_type else ""
        self.showcase = showcase
        self.since, self.until = since, until  # bounds of start(): a mover's stories before or after the move
        self.steps = 0

    def start(self, years: int = 18) -> datetime:
        first = max(WINDOW_START, adult_from(self.p, years))
        last = SHOWCASE_LAST_START if self.showcase else EXPORT_END - timedelta(days=10)
        if self.since is not None:
            first = max(first, self.since)
        if self.until is not None:
            last = min(last, self.until)
        if first >= last:
            first = last - timedelta(days=30)
        return first + timedelta(seconds=self.rng.randrange(int((last - first).total_seconds())))

    def sub(self, dispute_type: str) -> Story:
        """A new dispute told by the same protagonist (e.g. a new incident during corrections)."""
        return Story(self.chunk, self.p, self.number + 50, self.rng, dispute_type, self.showcase, self.since,
                     self.until)

    def rec(self, kind: str, parties: list[tuple[Entity, str]], ref: Rec | None = None,
            in_dispute: bool = True, county: geo.County | None = None, **attrs: object) -> Rec:
        """A record of this story's county's agencies (or of `county`'s, for a hand-over to another county)."""
        index = (county or self.county).index
        if in_dispute:
            return Rec(kind, parties, self.dispute_id, self.dispute_type, dict(attrs), ref, county=index)
        return Rec(kind, parties, "", "", dict(attrs), ref, county=index)

    def ev(self, when: datetime, rec: Rec, step: str, event_type: str, **data: object) -> bool:
        self.steps += 1
        if when > EXPORT_END:
            return False
        self.chunk.events.append(Ev(when, (self.p.index, self.number, self.steps), rec, step, event_type, data))
        return True

    def later(self, when: datetime, lo_days: float, hi_days: float) -> datetime:
        return office_time(when + timedelta(days=self.rng.uniform(lo_days, hi_days)), self.rng)

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def amount(self, lo: int, hi: int) -> int:
        return round(self.rng.randint(lo, hi), -2)


# --- building blocks ---------------------------------------------------------------------------------
INCIDENT_SUMMARIES: dict[str, tuple[str, ...]] = {
    "domestic_dispute": ("报警人称与家人因家庭琐事发生争吵，请求民警到场处理。", "报警人称夫妻因子女抚养问题发生口角。"),
    "neighbour_dispute": ("报警人称与邻居因排水问题发生纠纷。", "报警人称邻居建房占用其通道，双方发生争执。",
                          "报警人称与邻居因宅基地边界发生争执。"),
    "fight": ("报警人称与他人发生口角后被打伤，现场有轻微伤。", "双方因琐事发生厮打，一方头部受伤。"),
    "fraud": ("报警人称被他人以介绍工作为由骗取钱款。", "报警人称被他人以借款周转为由骗取钱款。"),
    "domestic_violence": ("报警人称被配偶殴打，身上有淤青。", "报警人称配偶酒后实施殴打并威胁。"),
    "wage_arrears": ("报警人称工地包工头拖欠工资，多名工人聚集讨薪。", "报警人称完工后老板拒不支付劳务费。"),
    "traffic": ("两车发生碰撞，一方人员受伤，车辆受损。", "电动车与小型轿车相撞，电动车驾驶人受伤。"),
    "other": ("报警人称与他人发生纠纷，请求处理。",),
}
DISPUTE_SUMMARIES: dict[str, str] = {
    "marriage_family": "夫妻双方因家庭矛盾发生纠纷", "neighbour": "邻里之间因通行、排水等问题发生纠纷",
    "land_homestead": "双方因宅基地或承包地边界发生纠纷", "labour_wages": "务工人员与用工方因拖欠工资发生纠纷",
    "private_lending": "双方因借款到期未还发生纠纷", "traffic_accident": "双方因交通事故损害赔偿发生纠纷",
    "property_management": "业主与物业公司因物业费及服务质量发生纠纷", "online_shopping": "消费者与网店因商品质量发生纠纷",
    "medical": "患方与医疗机构因诊疗后果发生纠纷", "damages": "双方因人身或财产损害赔偿发生纠纷",
    "land_requisition": "村民对征地补偿标准有异议", "other": "双方因合同履行等问题发生纠纷",
}
CAUSES: dict[str, tuple[str, ...]] = {
    "marriage_family": ("离婚纠纷", "抚养费纠纷", "赡养纠纷", "离婚后财产纠纷"),
    "neighbour": ("相邻关系纠纷", "排除妨害纠纷"),
    "land_homestead": ("宅基地使用权纠纷", "土地承包经营权纠纷"),
    "labour_wages": ("追索劳动报酬纠纷", "劳务合同纠纷"),
    "private_lending": ("民间借贷纠纷",),
    "traffic_accident": ("机动车交通事故责任纠纷",),
    "property_management": ("物业服务合同纠纷",),
    "online_shopping": ("网络购物合同纠纷", "信息网络买卖合同纠纷"),
    "medical": ("医疗损害责任纠纷",),
    "damages": ("生命权、身体权、健康权纠纷", "财产损害赔偿纠纷"),
    "land_requisition": ("土地行政征收", "房屋拆迁行政补偿"),
    "other": ("合同纠纷", "不当得利纠纷"),
}
NEXT_LEVEL = {"village": "township", "township": "county"}


def incident(s: Story, when: datetime, category: str, parties: list[tuple[Entity, str]],
             place: str | None = None) -> Rec:
    first = parties[0][0]
    township = first.addr.township if isinstance(first, Person) else 0
    rec = s.rec("incident", parties, category=category, station=township,
                location=place or _place_of(s, first),
                summary=s.rng.choice(INCIDENT_SUMMARIES[category]),
                channel=s.rng.choice(("110报警", "110报警", "110报警", "电话报警", "现场报警")))
    rec.attrs["at"] = police_time(when, s.rng)
    s.ev(rec.attrs["at"], rec, "接警", "IncidentReported")
    return rec


def _place_of(s: Story, who: Entity) -> str:
    if isinstance(who, Org):
        return who.address
    suffix = s.rng.choice(("", "", "家中", "门口", "村口", "附近"))
    return who.addr.place + suffix


def refer_to_mediation(s: Story, when: datetime, inc: Rec, committee: str) -> datetime:
    """Police hand the dispute over (警调对接); returns the time of the referral."""
    t = max(when, inc.attrs["at"]) + timedelta(hours=s.rng.uniform(1, 48))
    s.ev(t, inc, "移交调解", "DisputeReferredToMediation", committee=committee)
    return t


def mediate(s: Story, when: datetime, parties: list[tuple[Entity, str]], level: str, committee: str,
            source: str, ref: Rec | None, outcome: str | None = None) -> tuple[datetime, str, Rec]:
    """A mediation case; escalation opens a new case one level up. Returns (end, outcome, last case)."""
    rec = s.rec("mediation", parties, ref, level=level, committee=committee, source=source,
                summary=DISPUTE_SUMMARIES[s.dispute_type], amount=s.amount(0, 80000) if s.chance(0.6) else 0)
    opened = office_time(when + timedelta(hours=s.rng.uniform(1, 72)), s.rng)
    s.ev(opened, rec, "受理", "MediationCaseOpened")
    if outcome is None:
        weights = (60, 25, 15 if level in NEXT_LEVEL else 0)
        outcome = s.rng.choices(("agreement", "failed", "escalated"), weights=weights)[0]
    if outcome == "escalated" and level not in NEXT_LEVEL:
        outcome = "failed"
    closed = s.later(opened, 2, {"village": 20, "township": 40, "county": 60}[level])
    upper_level = NEXT_LEVEL.get(level, "")
    upper = _committee(s, upper_level) if outcome == "escalated" else ""
    s.ev(closed, rec, "结案", "MediationConcluded", outcome=outcome, escalated_to=upper)
    if outcome == "escalated":
        return mediate(s, closed, parties, upper_level, upper, "escalated", rec)
    return closed, outcome, rec


def _committee(s: Story, level: str) -> str:
    if level == "village":
        return s.county.village_committee(s.p.addr)
    if level == "township":
        return s.county.township_committee(s.p.addr.township)
    return s.county.county_committee


def confirm_agreement(s: Story, when: datetime, med: Rec) -> tuple[datetime, Rec]:
    """Judicial confirmation (司法确认) of a mediation agreement."""
    parties = [(who, "申请人") for who, _ in med.parties]
    rec = s.rec("confirmation", parties, med, cause=s.rng.choice(CAUSES[s.dispute_type]),
                tribunal=s.county.tribunal(s.p.addr.township))
    t = s.later(when, 3, 30)
    s.ev(t, rec, "司法确认", "MediationAgreementConfirmed", decision="裁定", outcome="调解协议有效")
    return t, rec


def litigate(s: Story, when: datetime, parties: list[tuple[Entity, str]], kind: str = "civil",
             cause: str | None = None, ref: Rec | None = None, decision: str | None = None,
             sentence: tuple[str, int, int] | None = None, amount: int = 0) -> tuple[datetime, Rec, str]:
    """A first-instance case: filed, served, (heard), decided. Returns (decision date, case, decision)."""
    tribunal = {"civil": s.county.tribunal(s.p.addr.township), "criminal": "刑事审判庭", "admin": "行政审判庭"}[kind]
    rec = s.rec(kind, parties, ref, cause=cause or s.rng.choice(CAUSES[s.dispute_type]), tribunal=tribunal,
                amount=amount)
    t = office_time(when, s.rng)
    s.ev(t, rec, "立案", "CaseFiled")
    t = s.later(t, 3, 20)
    s.ev(t, rec, "送达", "DocumentsServed",
         method=s.rng.choices(("直接送达", "邮寄送达", "电子送达", "公告送达"), weights=(4, 4, 3, 1))[0])
    if decision is None:
        decision = s.rng.choices(("判决", "调解", "裁定"), weights=(65, 25, 10))[0] if kind == "civil" else "判决"
    if decision != "裁定":
        t = s.later(t, 15, 60)
        s.ev(t, rec, "开庭", "HearingHeld", room=f"第{s.rng.randint(1, 6)}审判庭")
    t = s.later(t, 5, 40)
    if kind == "criminal" and sentence is not None:
        outcome = "有罪"
    elif decision == "裁定":
        outcome = "准予撤诉"
    elif decision == "调解":
        outcome = "调解结案"
    else:
        outcome = s.rng.choices(("支持诉讼请求", "部分支持诉讼请求", "驳回诉讼请求"), weights=(5, 4, 1))[0]
    s.ev(t, rec, "结案", "JudgmentIssued", decision=decision, outcome=outcome, sentence=sentence)
    return t, rec, outcome


def enforce(s: Story, when: datetime, basis: Rec, applicant: Entity, respondent: Entity, amount: int) -> None:
    rec = s.rec("enforcement", [(applicant, "申请执行人"), (respondent, "被执行人")], basis,
                cause=basis.attrs["cause"], tribunal="执行局", amount=amount)
    t = s.later(when, 20, 120)
    s.ev(t, rec, "立案", "CaseFiled")
    final = s.rng.choices(("执行完毕", "终结本次执行程序", "部分执行"), weights=(5, 3, 2))[0]
    for status in ("执行中", final) if s.chance(0.7) else (final,):
        t = s.later(t, 20, 150)
        paid = amount if status == "执行完毕" else (s.amount(0, amount) if status == "部分执行" else 0)
        s.ev(t, rec, "执行", "EnforcementUpdated", status=status, paid=paid)


def after_failed_mediation(s: Story, when: datetime, plaintiff: Entity, defendant: Entity) -> None:
    """Failed mediation -> lawsuit within months -> judgment -> sometimes enforcement."""
    if not (s.showcase or s.chance(0.55)):
        return
    amount = s.amount(2000, 150000)
    filed = s.later(when, 20, 120)
    decided, case, outcome = litigate(s, filed, [(plaintiff, "原告"), (defendant, "被告")], amount=amount,
                                      decision="判决" if s.showcase else None)
    if outcome in ("支持诉讼请求", "部分支持诉讼请求", "调解结案") and (s.showcase or s.chance(0.35)):
        enforce(s, decided, case, plaintiff, defendant, amount)


# Of the confirmed agreements not enforced, the share the respondent goes back on and sues over (反悔重诉),
# decided by an RNG of the dispute's own, so the other stories draw as before.
RESUE_SHARE = 0.4


def after_agreement(s: Story, when: datetime, med: Rec, plaintiff: Entity, defendant: Entity) -> None:
    if s.showcase or s.chance(0.12):
        confirmed, conf = confirm_agreement(s, when, med)
        if s.showcase or s.chance(0.2):
            enforce(s, confirmed, conf, plaintiff, defendant, s.amount(1000, 50000))
        elif random.Random(f"resue:{s.dispute_id}").random() < RESUE_SHARE:
            litigate(s, s.later(confirmed, 30, 240), [(defendant, "原告"), (plaintiff, "被告")],
                     amount=s.amount(2000, 80000))


# --- stories -----------------------------------------------------------------------------------------
def neighbour_story(s: Story) -> None:
    p = s.p
    t = s.start()
    other = s.chunk.neighbour(s.rng, t, p)
    parties: list[tuple[Entity, str]] = [(p, "申请人"), (other, "被申请人")]
    committee = s.county.village_committee(p.addr)
    if s.showcase or s.chance(0.8):
        category = "fight" if s.chance(0.2) else "neighbour_dispute"
        inc = incident(s, t, category, [(p, "报警人"), (other, "当事人")])
        if not (s.showcase or s.chance(0.75)):
            return  # settled on the spot by the officers
        t = refer_to_mediation(s, t, inc, committee)
        end, outcome, med = mediate(s, t, parties, "village", committee, "police_referral", inc,
                                    outcome="failed" if s.showcase else None)
    else:
        source = "grid_inspection" if s.chance(0.3) else "walk_in"
        end, outcome, med = mediate(s, t, parties, "village", committee, source, None)
    if outcome == "agreement":
        after_agreement(s, end, med, p, other)
    else:
        after_failed_mediation(s, end, p, other)


def neighbour_agreement_story(s: Story) -> None:
    """Showcase: a walk-in mediation that ends in agreement and judicial confirmation."""
    t = s.start()
    other = s.chunk.neighbour(s.rng, t, s.p)
    end, _, med = mediate(s, t, [(s.p, "申请人"), (other, "被申请人")], "village",
                          s.county.village_committee(s.p.addr), "walk_in", None, outcome="agreement")
    after_agreement(s, end, med, s.p, other)


def fight_story(s: Story) -> None:
    """A fight, a criminal case, a probation sentence, community corrections; sometimes a new
    incident during supervision, then release from supervision or revocation."""
    p = s.p
    t = s.start()
    victim = s.chunk.someone(s.rng, t, p)
    inc = incident(s, t, "fight", [(victim, "报警人"), (p, "嫌疑人")])
    probation = s.rng.choice((12, 18, 24, 36))
    sentence = ("缓刑", s.rng.choice((6, 8, 10, 12)), probation)
    decided, case, _ = litigate(s, s.later(t, 30, 100), [(p, "被告人"), (victim, "被害人")], "criminal",
                                cause=s.rng.choice(("故意伤害罪", "寻衅滋事罪")), ref=inc, sentence=sentence)
    received = s.later(decided, 3, 10)
    ends = received + timedelta(days=30 * probation)
    office = s.county.justice_office(p.addr.township)
    corr = s.rec("correction", [(p, "社区矫正对象")], case, correction_type="缓刑",
                 risk=s.rng.choices(("红", "黄", "蓝"), weights=(2, 5, 3))[0], office=office,
                 offence=case.attrs["cause"], term_start=received.date(), term_end=ends.date())
    s.ev(received, corr, "接收", "CommunityCorrectionStarted")
    reason = "期满解除"
    if s.showcase or s.chance(0.35):
        new = s.sub(s.rng.choice(("neighbour", "marriage_family", "damages")))
        when = received + timedelta(days=s.rng.uniform(20, 30 * probation - 20))
        other = s.chunk.someone(s.rng, when, p)
        category = {"neighbour": "neighbour_dispute", "marriage_family": "domestic_dispute", "damages": "fight"}
        incident(new, when, category[new.dispute_type], [(other, "报警人"), (p, "当事人")])
        if new.dispute_type == "damages" and s.chance(0.5):
            reason = "撤销缓刑收监执行"
            ends = s.later(when, 20, 60)
    s.ev(office_time(ends, s.rng), corr, "解除", "CommunityCorrectionEnded", reason=reason)


def fraud_story(s: Story) -> None:
    """Fraud: prison sentence, and after release the hand-over to the home justice office."""
    p = s.p
    t = s.start()
    victim = s.chunk.someone(s.rng, t, p)
    inc = incident(s, t, "fraud", [(victim, "报警人"), (p, "嫌疑人")])
    months = s.rng.choice((12, 18, 24, 30))
    decided, case, _ = litigate(s, s.later(t, 40, 120), [(p, "被告人"), (victim, "被害人")], "criminal",
                                cause="诈骗罪", ref=inc, sentence=("有期徒刑", months, 0))
    released = decided + timedelta(days=30 * months - 60)
    release_handover(s, released, p, case, "诈骗罪", months)


OTHER_COURTS = (("驻马店市驿城区人民法院", "豫1702"), ("上蔡县人民法院", "豫1722"), ("平舆县人民法院", "豫1723"))


RECEIPT_LATE, RECEIPT_MISSING = 0.06, 0.04   # hand-overs received after 12-60 days, never received


def release_handover(s: Story, released: datetime, p: Person, case: Rec | None, offence: str, months: int,
                     home: tuple[geo.County, int] | None = None) -> None:
    """The prison's release notice, routed to the justice office of `home` (county, township): the person's
    registered residence, by default where the story happens; then that office's receipt (衔接), mostly within
    days of the release, sometimes weeks late, sometimes never. The notice is in the export of the sentencing
    county when the sentence is in our data (its bureau forwards it), else in the receiving county's. (The
    notice and the lateness draw from a generator of their own: the story's other draws stay as they were.)"""
    county, township = home or (s.county, p.addr.township)
    other_court = s.rng.choice(OTHER_COURTS)
    rec = s.rec("release", [(p, "刑满释放人员")], case, in_dispute=case is not None, county=county,
                prison=s.rng.choice(("河南省新乡监狱", "河南省郑州监狱", "河南省周口监狱", "河南省豫南监狱")),
                court=s.county.court_name if case else other_court[0],
                offence=offence, months=months, released=released.date(), office=county.justice_office(township),
                handover=s.rng.choices(("必接必送", "自行报到"), weights=(4, 1))[0],
                old_case=f"（{released.year - months // 12 - 1}）{other_court[1]}刑初{s.rng.randint(10, 600)}号"
                if case is None else "")
    received = office_time(released + timedelta(days=s.rng.uniform(0, 4)), s.rng)   # in time: within 7 days
    side = random.Random(f"release:{p.index}:{released:%Y%m%d}")
    notice = s.rec("notice", [(p, "刑满释放人员")], case, in_dispute=case is not None,
                   county=s.county if case is not None else county, prison=rec.attrs["prison"],
                   released=released.date(), to_county=county.code, office=rec.attrs["office"],
                   old_case=rec.attrs["old_case"])
    notified = office_time(released, side)
    s.ev(notified, notice, "释放通知", "ReleaseNoticeIssued")
    received = max(received, notified + timedelta(minutes=30))   # received after the release, not before
    r = side.random()
    if r < RECEIPT_MISSING:
        return
    if r < RECEIPT_MISSING + RECEIPT_LATE:
        received = office_time(released + timedelta(days=side.uniform(12, 60)), side)
    s.ev(received, rec, "衔接接收", "ReleasedPrisonerReceived")


def released_story(s: Story) -> None:
    """A sentence served elsewhere, before the window: only the hand-over is in our data."""
    release_handover(s, s.start(25), s.p, None, s.rng.choice(("盗窃罪", "故意伤害罪", "抢劫罪", "诈骗罪")),
                     s.rng.choice((24, 36, 60, 96)))


def wage_story(s: Story, overdue: bool | None = None) -> None:
    """Unpaid wages: police call; on time the dispute is referred to mediation within hours
    (72-hour green channel); overdue cases see no mediation or court step for days, if ever."""
    p = s.p
    t = s.start()
    contractor = s.chunk.someone(s.rng, t, p, years=25)
    company = s.rng.choice(orgs("E", s.county.index))
    workers: list[Entity] = [p]
    workers += [s.chunk.someone(s.rng, t, p) for _ in range(s.rng.choice((0, 0, 1, 2)))]
    workers = list(dict.fromkeys(w for w in workers if w is not contractor))
    inc = incident(s, t, "wage_arrears", [(w, "报警人" if i == 0 else "当事人") for i, w in enumerate(workers)]
                   + [(contractor, "当事人")], place=company.address)
    if overdue is None:
        overdue = s.chance(0.35)
    amount = s.amount(3000, 60000)
    if not overdue:
        committee = s.county.township_committee(p.addr.township)
        t = refer_to_mediation(s, t, inc, committee)
        end, outcome, med = mediate(s, t, [(w, "申请人") for w in workers] + [(contractor, "被申请人")],
                                    "township", committee, "police_referral", inc,
                                    outcome="failed" if s.showcase else None)
        if outcome == "agreement":
            return
        t = end
    elif not (s.showcase or s.chance(0.6)):
        return  # nothing follows: an overdue case the hub should flag
    applied = s.later(t, 4 if overdue else 1, 30)
    opponent: Entity = company if s.chance(0.5) else contractor
    aid = s.rec("legal_aid", [(p, "受援人"), (opponent, "对方当事人")], matter="追索劳动报酬", amount=amount)
    s.ev(applied, aid, "申请", "LegalAidApplied")
    granted = s.later(applied, 1, 7)
    s.ev(granted, aid, "指派", "LegalAidGranted",
         provider=s.rng.choice(s.county.legal_aid_providers))
    decided, case, outcome = litigate(s, s.later(granted, 10, 60), [(p, "原告"), (opponent, "被告")],
                                      amount=amount, decision="判决" if s.showcase else None)
    if outcome != "驳回诉讼请求" and (s.showcase or s.chance(0.4)):
        enforce(s, decided, case, p, opponent, amount)


# Of the lending disputes a village committee takes in, the share whose creditor also sues while it mediates
# (decided by an RNG of the dispute's own, so the other stories draw as before).
REPEAT_INTAKE_SHARE = 0.25


def lending_story(s: Story) -> None:
    p = s.p
    t = s.start()
    debtor = s.chunk.someone(s.rng, t, p)
    if s.chance(0.3):
        end, outcome, med = mediate(s, t, [(p, "申请人"), (debtor, "被申请人")], "village",
                                    s.county.village_committee(p.addr), "walk_in", None)
        if end - t > timedelta(days=12) and random.Random(f"repeat:{s.dispute_id}").random() < REPEAT_INTAKE_SHARE:
            # 两头跑: while the committee mediates, the creditor also sues (the repeat intake the hub warns of)
            litigate(s, office_time(t + (end - t) / 2, s.rng), [(p, "原告"), (debtor, "被告")],
                     amount=s.amount(5000, 300000))
            return
        if outcome == "agreement":
            after_agreement(s, end, med, p, debtor)
            return
        t = end
    amount = s.amount(5000, 300000)
    decided, case, outcome = litigate(s, s.later(t, 5, 60), [(p, "原告"), (debtor, "被告")], amount=amount)
    if outcome != "驳回诉讼请求" and outcome != "准予撤诉" and s.chance(0.45):
        enforce(s, decided, case, p, debtor, amount)


def traffic_story(s: Story) -> None:
    p = s.p
    t = s.start()
    other = s.chunk.someone(s.rng, t, p)
    inc = incident(s, t, "traffic", [(p, "报警人"), (other, "当事人")],
                   place=f"{s.county.townships[p.addr.township][0]}{s.rng.choice(s.county.streets)}与"
                         f"{s.rng.choice(('G107国道', 'S219省道', '乡道', '村道'))}交叉口")
    t = refer_to_mediation(s, t, inc, s.county.traffic_committee)
    end, outcome, _ = mediate(s, t, [(p, "申请人"), (other, "被申请人")], "county", s.county.traffic_committee,
                              "police_referral", inc)
    if outcome != "agreement" and s.chance(0.6):
        insurer = s.rng.choice(orgs("I", s.county.index))
        litigate(s, s.later(end, 10, 90), [(p, "原告"), (other, "被告"), (insurer, "被告")],
                 amount=s.amount(5000, 200000))


def property_story(s: Story) -> None:
    p = s.p
    company = orgs("W", s.county.index)[p.addr.estate] if p.addr.urban else s.rng.choice(orgs("W", s.county.index))
    t = s.start()
    if s.chance(0.4):
        end, outcome, _ = mediate(s, t, [(p, "申请人"), (company, "被申请人")], "village",
                                  s.county.village_committee(p.addr), s.rng.choice(("walk_in", "grid_inspection")), None)
        if outcome == "agreement":
            return
        t = end
    litigate(s, s.later(t, 5, 90), [(company, "原告"), (p, "被告")], amount=s.amount(800, 9000))


def shopping_story(s: Story) -> None:
    p = s.p
    shop = s.rng.choice(orgs("S", s.county.index))
    t = s.start()
    end, outcome, _ = mediate(s, t, [(p, "申请人"), (shop, "被申请人")], "township",
                              s.county.township_committee(p.addr.township), "walk_in", None)
    if outcome != "agreement" and s.chance(0.4):
        litigate(s, s.later(end, 5, 60), [(p, "原告"), (shop, "被告")], amount=s.amount(200, 20000))


def medical_story(s: Story) -> None:
    p = s.p
    hospital = s.rng.choice(orgs("H", s.county.index))
    t = s.start()
    end, outcome, _ = mediate(s, t, [(p, "申请人"), (hospital, "被申请人")], "county", s.county.medical_committee,
                              "walk_in", None)
    if outcome != "agreement" and s.chance(0.5):
        litigate(s, s.later(end, 20, 120), [(p, "原告"), (hospital, "被告")], amount=s.amount(10000, 500000))


def requisition_story(s: Story) -> None:
    """Land requisition found by a grid worker, escalated to the county team, then an
    administrative lawsuit against the township government."""
    p = s.p
    t = s.start()
    end, outcome, _ = mediate(s, t, [(p, "申请人"), (orgs("G", s.county.index)[p.addr.township + 1], "被申请人")], "township",
                              s.county.township_committee(p.addr.township), "grid_inspection", None,
                              outcome="escalated" if s.showcase else None)
    if outcome != "agreement" and (s.showcase or s.chance(0.5)):
        litigate(s, s.later(end, 20, 120), [(p, "原告"), (orgs("G", s.county.index)[p.addr.township + 1], "被告")], "admin",
                 decision="判决")


def court_referral_story(s: Story) -> None:
    """A lawsuit the court refers to mediation before trial (诉前委派调解)."""
    p = s.p
    t = s.start()
    other = s.chunk.someone(s.rng, t, p)
    case = s.rec("civil", [(p, "原告"), (other, "被告")], cause=s.rng.choice(CAUSES[s.dispute_type]),
                 tribunal=s.county.tribunal(p.addr.township), amount=s.amount(1000, 50000))
    filed = office_time(t, s.rng)
    s.ev(filed, case, "立案", "CaseFiled")
    end, outcome, _ = mediate(s, s.later(filed, 1, 10), [(p, "申请人"), (other, "被申请人")], "township",
                              s.county.township_committee(p.addr.township), "court_referral", case)
    if outcome == "agreement":
        s.ev(s.later(end, 2, 15), case, "结案", "JudgmentIssued", decision="调解", outcome="调解结案", sentence=None)
        return
    served = s.later(end, 2, 10)
    s.ev(served, case, "送达", "DocumentsServed", method="直接送达")
    heard = s.later(served, 15, 45)
    s.ev(heard, case, "开庭", "HearingHeld", room=f"第{s.rng.randint(1, 6)}审判庭")
    s.ev(s.later(heard, 5, 30), case, "结案", "JudgmentIssued", decision="判决", outcome="部分支持诉讼请求",
         sentence=None)


# --- couples -----------------------------------------------------------------------------------------
def register(s: Story, when: datetime, kind: str, husband: Person, wife: Person) -> None:
    rec = s.rec(kind, [(husband, "男方"), (wife, "女方")], in_dispute=False,
                office=s.county.registry)
    t = office_time(when, s.rng)
    if kind == "divorce":
        applied = t - timedelta(days=s.rng.randint(31, 60))
        s.ev(t, rec, "离婚登记", "DivorceRegistered", applied=applied.date())
    else:
        s.ev(t, rec, "结婚登记", "MarriageRegistered")


def dv_episode(s: Story, when: datetime, husband: Person, wife: Person, overdue: bool) -> datetime:
    """A domestic-violence call, a warning letter, and (unless overdue) mediation within 72 hours."""
    inc = incident(s, when, "domestic_violence", [(wife, "报警人"), (husband, "加害人")])
    warned = inc.attrs["at"] + timedelta(hours=s.rng.uniform(2, 60))
    s.ev(warned, inc, "告诫", "DomesticViolenceWarningIssued")
    if overdue:
        return warned
    committee = s.county.village_committee(wife.addr)
    t = refer_to_mediation(s, warned, inc, committee)
    end, _, _ = mediate(s, t, [(wife, "申请人"), (husband, "被申请人")], "village", committee, "police_referral", inc)
    return end


def protection_order(s: Story, when: datetime, husband: Person, wife: Person) -> datetime:
    rec = s.rec("protection", [(wife, "申请人"), (husband, "被申请人")], cause="人身安全保护令",
                tribunal=s.county.tribunal(wife.addr.township))
    t = office_time(when + timedelta(hours=s.rng.uniform(24, 72)), s.rng)
    s.ev(t, rec, "保护令", "ProtectionOrderIssued", months=6)
    return t


def couple_story(s: Story, husband: Person, wife: Person, variant: str | None) -> None:
    """Marriage registration (when it falls in the window), and for some couples domestic violence,
    divorces (some repeated, some followed by remarriage to each other) or a divorce lawsuit."""
    rng = s.rng
    legal = max(adult_from(husband, 22), adult_from(wife, 20))
    married = WINDOW_START - timedelta(days=rng.randrange(1, 9000))
    recent = WINDOW_START - timedelta(days=3650) <= legal <= EXPORT_END - timedelta(days=200)
    if variant or (recent and rng.random() < 0.3):
        first = max(legal, WINDOW_START)
        span = 200 if variant else max(30, (EXPORT_END - first).days - 400)
        married = first + timedelta(days=rng.randrange(span))
        register(s, married, "marriage", husband, wife)
    if married < legal:
        married = legal  # never before the legal age
    if variant is None:
        variant = rng.choices(("none", "divorce", "dv", "dv_repeat", "family", "lawsuit"),
                              weights=(880, 45, 20, 8, 25, 15))[0]
    t = max(married, WINDOW_START) + timedelta(days=rng.uniform(60, 700))
    if variant == "divorce":
        register(s, t, "divorce", husband, wife)
        if rng.random() < 0.25:
            register(s, s.later(t, 90, 500), "marriage", husband, wife)  # 复婚
        elif rng.random() < 0.4:
            remarry(s, s.later(t, 120, 700), husband)
    elif variant in ("dv", "dv_overdue"):
        end = dv_episode(s, t, husband, wife, overdue=variant == "dv_overdue" or rng.random() < 0.3)
        if variant == "dv" and rng.random() < 0.4:
            t = end + timedelta(days=rng.uniform(20, 200))
            dv_episode(s, t, husband, wife, overdue=False)
            protection_order(s, t, husband, wife)
    elif variant == "dv_repeat":
        t = dv_episode(s, t, husband, wife, overdue=False)
        t = s.later(t, 30, 200)
        register(s, t, "divorce", husband, wife)
        t = s.later(t, 60, 300)
        register(s, t, "marriage", husband, wife)
        t = t + timedelta(days=rng.uniform(30, 200))
        dv_episode(s, t, husband, wife, overdue=rng.random() < 0.3)
        t = protection_order(s, t, husband, wife)
        register(s, s.later(t, 40, 200), "divorce", husband, wife)
    elif variant == "family":
        inc = incident(s, t, "domestic_dispute", [(wife, "报警人"), (husband, "当事人")])
        committee = s.county.village_committee(wife.addr)
        t = refer_to_mediation(s, t, inc, committee)
        mediate(s, t, [(wife, "申请人"), (husband, "被申请人")], "village", committee, "police_referral", inc)
    elif variant == "lawsuit":
        litigate(s, t, [(wife, "原告"), (husband, "被告")], cause="离婚纠纷")


def remarry(s: Story, when: datetime, person: Person) -> None:
    other = s.chunk.partner(s.rng, when, person)
    if other is not None:
        husband, wife = (person, other) if person.male else (other, person)
        register(s, when, "marriage", husband, wife)


# --- dispatch -----------------------------------------------------------------------------------------
StoryFn = Callable[[Story], None]
# (story, dispute type, probability that a person is its protagonist)
STORIES: tuple[tuple[StoryFn, str, float], ...] = (
    (neighbour_story, "neighbour", 0.022), (neighbour_story, "land_homestead", 0.012),
    (neighbour_story, "damages", 0.005), (fight_story, "damages", 0.006), (fraud_story, "other", 0.002),
    (released_story, "", 0.002), (wage_story, "labour_wages", 0.012), (lending_story, "private_lending", 0.02),
    (traffic_story, "traffic_accident", 0.012), (property_story, "property_management", 0.01),
    (shopping_story, "online_shopping", 0.006), (medical_story, "medical", 0.003),
    (requisition_story, "land_requisition", 0.003), (court_referral_story, "other", 0.005),
)


def _wage_overdue(s: Story) -> None:
    wage_story(s, overdue=True)


def _wage_on_time(s: Story) -> None:
    wage_story(s, overdue=False)


# Stories told in full (started early enough to finish before the export date) by the first persons
# of every chunk, so that even small runs contain every event type and every alert pattern.
SHOWCASE: tuple[tuple[StoryFn, str], ...] = (
    (neighbour_story, "neighbour"), (neighbour_agreement_story, "land_homestead"), (fight_story, "damages"),
    (fraud_story, "other"), (released_story, ""), (_wage_overdue, "labour_wages"),
    (_wage_on_time, "labour_wages"), (requisition_story, "land_requisition"),
    (court_referral_story, "other"), (traffic_story, "traffic_accident"),
)
COUPLE_SHOWCASE = ("dv_repeat", "dv_overdue", "divorce", "family", "lawsuit")


# --- people who move between counties ------------------------------------------------------------------
# A mover (people.Move) tells one story in the home county before the move and one in the new county
# after it, so their records are in both counties' exports under one true id. The kind decides which:
#   dispute:  a dispute at home (a quarrel, a mediation, a loan), later another one in the new county;
#   family:   the marriage ends at home (divorce registered there), a new marriage in the new county and
#             domestic violence there (the case a county-bound hub would not connect);
#   offender: a fraud in the new county, tried by its court, and after prison the hand-over to the
#             justice office of the registered residence at home (必接必送 across counties).
def quarrel_story(s: Story) -> None:
    """A quarrel with a neighbour: one police call, settled on the spot."""
    t = s.start()
    incident(s, t, "neighbour_dispute", [(s.p, "报警人"), (s.chunk.neighbour(s.rng, t, s.p), "当事人")])


def walk_in_story(s: Story) -> None:
    """A walk-in mediation with a neighbour at the village committee (confirmed in court now and then)."""
    t = s.start()
    other = s.chunk.neighbour(s.rng, t, s.p)
    end, outcome, med = mediate(s, t, [(s.p, "申请人"), (other, "被申请人")], "village",
                                s.county.village_committee(s.p.addr), "walk_in", None)
    if outcome == "agreement":
        after_agreement(s, end, med, s.p, other)


# Short on purpose: every mover tells one at home and one in the new county, on top of their ordinary
# stories, and movers should not outweigh everybody else in the exports.
HOME_DISPUTES: tuple[tuple[StoryFn, str], ...] = (
    (quarrel_story, "neighbour"), (walk_in_story, "neighbour"), (lending_story, "private_lending"))
NEW_COUNTY_DISPUTES: tuple[tuple[StoryFn, str], ...] = (
    (quarrel_story, "neighbour"), (walk_in_story, "neighbour"), (lending_story, "private_lending"),
    (shopping_story, "online_shopping"))
MOVER_STORY = 60  # story numbers: 60 at home, 61 in the new county


def before_move(chunk: Chunk, p: Person, rng: random.Random) -> None:
    """The mover's story at home, started at least 30 days before the move."""
    assert p.move is not None
    until = p.move.when - timedelta(days=30)
    if p.move.kind == "family" and _marriage_ends(Story(chunk, p, MOVER_STORY, rng, "", until=until)):
        return
    if p.move.kind == "offender":
        return  # the hand-over at home comes from the new county's story
    fn, dispute_type = rng.choice(HOME_DISPUTES)
    fn(Story(chunk, p, MOVER_STORY, rng, dispute_type, until=until))


def _marriage_ends(s: Story) -> bool:
    """A divorce at home, before the move; with a marriage first when the mover has no spouse yet."""
    p, until = s.p, s.until
    assert until is not None
    t = s.start(22 if p.male else 20)
    spouse = s.chunk.spouse.get(p.index) or s.chunk.partner(s.rng, t, p)
    if spouse is None:
        return False
    husband, wife = (p, spouse) if p.male else (spouse, p)
    if p.index not in s.chunk.spouse:
        register(s, t, "marriage", husband, wife)
        t += (until - t) * s.rng.uniform(0.3, 0.9)
    register(s, t, "divorce", husband, wife)
    return True


def after_move(chunk: Chunk, p: Person, rng: random.Random) -> None:
    """The mover's story in the new county (`chunk` is one of its chunks), from 30 days after the move."""
    assert p.move is not None
    move = p.move
    since, until = move.when + timedelta(days=30), EXPORT_END - timedelta(days=90)  # to see the first steps
    if move.kind == "offender":
        offender_story(Story(chunk, p, MOVER_STORY + 1, rng, "other", since=since,
                             until=move.when + timedelta(days=180)), geo.county(move.home), move.before.township)
        return
    if move.kind == "family" and _new_marriage_with_violence(
            Story(chunk, p, MOVER_STORY + 1, rng, "marriage_family", since=since, until=until)):
        return
    fn, dispute_type = rng.choice(NEW_COUNTY_DISPUTES)
    fn(Story(chunk, p, MOVER_STORY + 1, rng, dispute_type, since=since, until=until))


def _new_marriage_with_violence(s: Story) -> bool:
    p = s.p
    t = s.start(22 if p.male else 20)
    partner = s.chunk.partner(s.rng, t, p)
    if partner is None:
        return False
    husband, wife = (p, partner) if p.male else (partner, p)
    register(s, t, "marriage", husband, wife)
    incident_at = t + min(timedelta(days=s.rng.uniform(60, 400)), (EXPORT_END - t) / 2)
    end = dv_episode(s, incident_at, husband, wife, overdue=s.chance(0.3))
    if s.chance(0.25):
        protection_order(s, end, husband, wife)
    return True


def offender_story(s: Story, home: geo.County, home_township: int) -> None:
    """Fraud in the new county, a prison term, and the hand-over to the home county's justice office."""
    p = s.p
    t = s.start()
    victim = s.chunk.someone(s.rng, t, p)
    inc = incident(s, t, "fraud", [(victim, "报警人"), (p, "嫌疑人")])
    months = s.rng.choice((12, 15, 18))
    decided, case, _ = litigate(s, s.later(t, 40, 120), [(p, "被告人"), (victim, "被害人")], "criminal",
                                cause="诈骗罪", ref=inc, sentence=("有期徒刑", months, 0))
    release_handover(s, decided + timedelta(days=30 * months - 60), p, case, "诈骗罪", months,
                     home=(home, home_township))


def chunk_events(seed: int, persons: list[Person], chunk_no: int, county: geo.County = geo.QINGYUAN,
                 arrivals: list[Person] | tuple[Person, ...] = ()) -> list[Ev]:
    """All events of one chunk of persons living in `county`, sorted by time. `arrivals` are movers from
    other counties (people.Move) who tell their after-move story here; the chunk's own movers tell
    only stories that start before they leave."""
    chunk = Chunk(persons, random.Random(f"{seed}:chunk:{chunk_no}"), county)
    showcases = couple_showcases = 0
    early = SHOWCASE_LAST_START - timedelta(days=400)
    for p in persons:
        rng = random.Random(f"{seed}:story:{p.index}")
        if adult_from(p) > EXPORT_END - timedelta(days=60):
            continue  # minors' records are sealed: nobody under 18 appears in the exports
        leaves = p.move.when - timedelta(days=30) if p.move is not None else None
        if showcases < len(SHOWCASE) and adult_from(p, 25) < early and leaves is None:
            fn, dispute_type = SHOWCASE[showcases]
            showcases += 1
            fn(Story(chunk, p, 0, rng, dispute_type, showcase=True))
        for number, (fn, dispute_type, rate) in enumerate(STORIES, start=1):
            if rng.random() < rate:
                fn(Story(chunk, p, number, rng, dispute_type, until=leaves))
        wife = chunk.spouse.get(p.index)
        if p.male and wife is not None and leaves is None and wife.move is None:
            variant = None
            if couple_showcases < len(COUPLE_SHOWCASE) and max(adult_from(p, 22), adult_from(wife, 20)) < early:
                variant = COUPLE_SHOWCASE[couple_showcases]
                couple_showcases += 1
            couple_story(Story(chunk, p, 40, rng, "marriage_family", showcase=variant is not None),
                         p, wife, variant)
    for p in persons:
        if p.move is not None:
            before_move(chunk, p, random.Random(f"{seed}:before-move:{p.index}"))
    for p in arrivals:
        after_move(chunk, resident_after_move(p), random.Random(f"{seed}:after-move:{p.index}"))
    chunk.events.sort(key=lambda e: (e.when, e.order))
    return chunk.events
