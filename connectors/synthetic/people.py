"""Synthetic persons and organisations. A person depends only on (seed, index, home county)."""

from __future__ import annotations

import random
from bisect import bisect
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from connectors.synthetic import addresses as geo
from connectors.synthetic import ids, names

_DIVISION_CUM: list[float] = []
_total = 0.0
for _share in (geo.HOME_DIVISION_SHARE, *(share for _code, _place, share in geo.OTHER_DIVISIONS)):
    _total += _share
    _DIVISION_CUM.append(_total)

MINORITY_SHARE = 0.006


@dataclass(frozen=True, slots=True)
class Move:
    """A person who lived in county `home` until `when` and in county `county` from then on. Their id
    number keeps its issuing code and their registered residence (户籍) stays at home."""

    when: datetime
    home: int  # county index before the move
    county: int  # county index after the move
    before: geo.Address
    after: geo.Address
    kind: str  # the story that crosses the border: "dispute", "family" or "offender" (see stories.py)


@dataclass(slots=True, eq=False)
class Person:
    index: int
    pid: str
    male: bool
    birth: date
    name: str
    ethnicity: str
    id18: str
    hukou: str | None  # registered address outside the county; None when it is the home address
    phones: tuple[tuple[date, str], ...]  # (in use from, number), oldest first
    landline: str | None
    addr: geo.Address  # where they live in the county whose chunk holds this object
    move: Move | None = None

    def phone_at(self, when: date) -> str:
        current = self.phones[0][1]
        for since, number in self.phones:
            if since <= when:
                current = number
        return current

    def previous_phone(self, when: date) -> str | None:
        older = [number for since, number in self.phones if since <= when]
        return older[-2] if len(older) > 1 else None

    def age_at(self, when: date) -> int:
        return when.year - self.birth.year - ((when.month, when.day) < (self.birth.month, self.birth.day))

    def address_at(self, when: date) -> geo.Address:
        move = self.move
        if move is None:
            return self.addr
        return move.after if when >= move.when.date() else move.before


def moved(person: Person, move: Move, phone: str | None) -> Person:
    """`person` with `move` (and a new mobile from the move on): the same object in the home county's
    chunk, where `addr` stays the home address."""
    person.move = move
    if phone is not None:
        person.phones = tuple(sorted((*person.phones, (move.when.date(), phone))))
    return person


def resident_after_move(person: Person) -> Person:
    """The mover as a resident of the county they moved to (`addr` is the new address)."""
    assert person.move is not None
    return replace(person, addr=person.move.after)


@dataclass(frozen=True, slots=True)
class Org:
    oid: str
    name: str
    uscc: str
    address: str
    county: int = 0


def person_id(index: int) -> str:
    return f"P{index:08d}"


def make_person(seed: int, index: int, salt: float, home: geo.County = geo.QINGYUAN) -> Person:
    rng = random.Random(f"{seed}:person:{index}")
    male = rng.random() < 0.505
    birth, sequence = ids.birth_and_sequence(index, male, salt)
    minority = rng.random() < MINORITY_SHARE
    if minority:
        division, place = rng.choice(geo.MINORITY_DIVISIONS)
        surname, given = names.make_minority_name(rng, male)
        ethnicity = "维吾尔族"
    else:
        division, place, _ = home.id_divisions[bisect(_DIVISION_CUM, rng.random() * _total)]
        surname, given = names.make_name(rng, male, birth.year)
        ethnicity = "回族" if rng.random() < 0.01 else "汉族"
    addr = home.make_address(rng)
    hukou = None if division == home.code else geo.render_hukou_elsewhere(place, rng)
    phones = [(date(2000, 1, 1), ids.make_mobile(rng))]
    for _ in range(rng.choices((0, 1, 2), weights=(60, 30, 10))[0]):
        phones.append((date(2019, 1, 1) + timedelta(days=rng.randrange(6 * 365)), ids.make_mobile(rng)))
    phones.sort()
    landline = ids.make_landline(rng, geo.AREA_CODE) if rng.random() < 0.08 else None
    return Person(index, person_id(index), male, birth, surname + given, ethnicity,
                  ids.make_id18(division, birth, sequence), hukou, tuple(phones), landline, addr)


# --- organisations: a fixed pool per county, independent of the seed ---------------------------------
# County companies, estates' property managers, hospitals, the PICC branch and the governments are the
# county's own; the prefecture's labour-service and e-commerce companies and the Ping An branch belong
# to 清源's pool and are shared by every county (the same organisation, the same true id).
_TRADE_NAMES = "宏达 鑫源 华兴 永盛 恒泰 金鼎 瑞丰 天成 中原 豫通 兴旺 远航 顺发 德邦 凯旋 盛世".split()
_POOLS: dict[int, dict[str, tuple[Org, ...]]] = {}


def _build_pool(county: geo.County) -> dict[str, tuple[Org, ...]]:
    rng = random.Random(f"orgs:{county.code}")
    own = county.index == 0
    pool: dict[str, list[Org]] = {}

    def add(kind: str, name: str) -> None:
        number = len(pool.setdefault(kind, [])) + 1
        oid = f"ORG{kind}{number:03d}" if own else f"ORG{county.code}{kind}{number:03d}"
        pool[kind].append(Org(oid, name, ids.make_uscc(county.code, rng),
                              county.name + rng.choice(county.streets) + f"{rng.randint(1, 300)}号", county.index))

    for trade in _TRADE_NAMES:
        add("E", f"{county.name}{trade}建筑工程有限公司")
        if own:
            add("E", f"驻马店{trade}劳务有限公司")
    for estate in county.estates:
        add("W", f"{county.name}{estate}物业服务有限公司")
    if own:
        for trade in _TRADE_NAMES[:8]:
            add("S", f"{geo.CITY}{trade}电子商务有限公司")
    for hospital in county.hospitals:
        add("H", hospital)
    add("I", f"中国人民财产保险股份有限公司{county.short}支公司")
    if own:
        add("I", "中国平安财产保险股份有限公司驻马店中心支公司")
    add("G", f"{county.name}人民政府")
    for township, _short, _tribunal in county.townships:
        add("G", f"{county.name}{township}人民政府")
    if not own:
        shared = orgs("E", 0), orgs("S", 0), orgs("I", 0)
        pool["E"] += [o for o in shared[0] if o.name.startswith("驻马店")]
        pool["S"] = list(shared[1])
        pool["I"] += [o for o in shared[2] if "驻马店" in o.name]
    return {kind: tuple(members) for kind, members in pool.items()}


def orgs(kind: str, county: int = 0) -> tuple[Org, ...]:
    """County `county`'s E employers, W property managers (one per estate, in estate order), S online
    shops, H hospitals, I insurers, G governments (the county's, then one per township, in order)."""
    pool = _POOLS.get(county)
    if pool is None:
        pool = _POOLS[county] = _build_pool(geo.county(county))
    return pool[kind]
