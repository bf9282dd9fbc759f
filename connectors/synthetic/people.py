"""Synthetic persons and organisations. A person depends only on (seed, index)."""

from __future__ import annotations

import random
from bisect import bisect
from dataclasses import dataclass
from datetime import date, timedelta

from connectors.synthetic import addresses as geo
from connectors.synthetic import ids, names

_DIVISION_CUM: list[float] = []
_total = 0.0
for _code, _place, _share in geo.LOCAL_DIVISIONS:
    _total += _share
    _DIVISION_CUM.append(_total)

MINORITY_SHARE = 0.006


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
    addr: geo.Address

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


@dataclass(frozen=True, slots=True)
class Org:
    oid: str
    name: str
    uscc: str
    address: str


def person_id(index: int) -> str:
    return f"P{index:08d}"


def make_person(seed: int, index: int, salt: float) -> Person:
    rng = random.Random(f"{seed}:person:{index}")
    male = rng.random() < 0.505
    birth, sequence = ids.birth_and_sequence(index, male, salt)
    minority = rng.random() < MINORITY_SHARE
    if minority:
        division, place = rng.choice(geo.MINORITY_DIVISIONS)
        surname, given = names.make_minority_name(rng, male)
        ethnicity = "维吾尔族"
    else:
        division, place, _ = geo.LOCAL_DIVISIONS[bisect(_DIVISION_CUM, rng.random() * _total)]
        surname, given = names.make_name(rng, male, birth.year)
        ethnicity = "回族" if rng.random() < 0.01 else "汉族"
    addr = geo.make_address(rng)
    hukou = None if division == geo.COUNTY_CODE else geo.render_hukou_elsewhere(place, rng)
    phones = [(date(2000, 1, 1), ids.make_mobile(rng))]
    for _ in range(rng.choices((0, 1, 2), weights=(60, 30, 10))[0]):
        phones.append((date(2019, 1, 1) + timedelta(days=rng.randrange(6 * 365)), ids.make_mobile(rng)))
    phones.sort()
    landline = ids.make_landline(rng, geo.AREA_CODE) if rng.random() < 0.08 else None
    return Person(index, person_id(index), male, birth, surname + given, ethnicity,
                  ids.make_id18(division, birth, sequence), hukou, tuple(phones), landline, addr)


# --- organisations: a fixed county pool, independent of the seed ----------------------------------
_ORG_RNG = random.Random(f"orgs:{geo.COUNTY_CODE}")
_TRADE_NAMES = "宏达 鑫源 华兴 永盛 恒泰 金鼎 瑞丰 天成 中原 豫通 兴旺 远航 顺发 德邦 凯旋 盛世".split()


def _org(kind: str, name: str) -> Org:
    oid = f"ORG{kind}{len(_ORGS_BY_KIND.setdefault(kind, ())) + 1:03d}"
    org = Org(oid, name, ids.make_uscc(geo.COUNTY_CODE, _ORG_RNG), geo.COUNTY + _ORG_RNG.choice(geo.STREETS)
              + f"{_ORG_RNG.randint(1, 300)}号")
    _ORGS_BY_KIND[kind] = (*_ORGS_BY_KIND[kind], org)
    return org


_ORGS_BY_KIND: dict[str, tuple[Org, ...]] = {}
for _trade in _TRADE_NAMES:
    _org("E", f"{geo.COUNTY}{_trade}建筑工程有限公司")
    _org("E", f"驻马店{_trade}劳务有限公司")
for _estate in geo.ESTATES:
    _org("W", f"{geo.COUNTY}{_estate}物业服务有限公司")
for _trade in _TRADE_NAMES[:8]:
    _org("S", f"{geo.CITY}{_trade}电子商务有限公司")
for _hospital in ("清源县人民医院", "清源县中医院", "清源县妇幼保健院", "李店镇卫生院", "韩集镇卫生院"):
    _org("H", _hospital)
_org("I", "中国人民财产保险股份有限公司清源支公司")
_org("I", "中国平安财产保险股份有限公司驻马店中心支公司")
_org("G", "清源县人民政府")
for _township, _short, _tribunal in geo.TOWNSHIPS:
    _org("G", f"{geo.COUNTY}{_township}人民政府")


def orgs(kind: str) -> tuple[Org, ...]:
    """E employers, W property managers, S online shops, H hospitals, I insurers, G governments."""
    return _ORGS_BY_KIND[kind]
