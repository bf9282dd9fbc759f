"""The synthetic county (清源县, a fictional county with a real-looking code in 驻马店市, 河南省),
its townships, villages and agencies, and addresses written the many ways clerks write them.

The geography is fixed (independent of the run seed) so that every run shares one county."""

from __future__ import annotations

import random
from dataclasses import dataclass
from itertools import accumulate

PROVINCE, CITY, COUNTY = "河南省", "驻马店市", "清源县"
COUNTY_CODE = "411730"
COURT_CODE = "豫1730"  # the court prefix in case numbers: province abbreviation + last 4 digits
COURT_NAME = "清源县人民法院"
AREA_CODE = "0396"

# (name, short name used by offices, people's tribunal that covers it)
TOWNSHIPS: tuple[tuple[str, str, str], ...] = (
    ("城关镇", "城关", "城关人民法庭"), ("李店镇", "李店", "李店人民法庭"), ("王桥镇", "王桥", "李店人民法庭"),
    ("韩集镇", "韩集", "韩集人民法庭"), ("杨埠镇", "杨埠", "韩集人民法庭"), ("孙庄乡", "孙庄", "城关人民法庭"),
    ("刘寨乡", "刘寨", "马湾人民法庭"), ("河坞乡", "河坞", "马湾人民法庭"), ("马湾乡", "马湾", "马湾人民法庭"),
    ("龙口镇", "龙口", "韩集人民法庭"),
)
TOWNSHIP_WEIGHTS = (3.0, 1.2, 1.0, 1.1, 0.9, 0.7, 0.8, 0.6, 0.8, 1.0)
COMMUNITIES = ("建设路社区", "人民路社区", "文化路社区", "解放路社区", "滨河社区", "新华社区")
STREETS = ("建设路", "人民路", "文化路", "解放路", "滨河大道", "新华街")
ESTATES = ("幸福家园", "锦绣花园", "阳光小区", "盛世名城", "御景湾", "翰林苑", "金水湾", "世纪城")
URBAN_SHARE = 0.3  # share of residents living in the estates of 城关镇 (the county town)

# Where people's id numbers were issued: (division code, place name, share).
LOCAL_DIVISIONS: tuple[tuple[str, str, float], ...] = (
    (COUNTY_CODE, PROVINCE + CITY + COUNTY, 0.80),
    ("411702", "河南省驻马店市驿城区", 0.04), ("411721", "河南省驻马店市西平县", 0.02),
    ("411722", "河南省驻马店市上蔡县", 0.03), ("411723", "河南省驻马店市平舆县", 0.02),
    ("411724", "河南省驻马店市正阳县", 0.01),
    ("341221", "安徽省阜阳市临泉县", 0.025), ("341282", "安徽省阜阳市界首市", 0.01),
    ("420106", "湖北省武汉市武昌区", 0.01), ("320102", "江苏省南京市玄武区", 0.01),
    ("440304", "广东省深圳市福田区", 0.01), ("510104", "四川省成都市锦江区", 0.01),
    ("370102", "山东省济南市历下区", 0.005),
)
MINORITY_DIVISIONS = (("650102", "新疆维吾尔自治区乌鲁木齐市天山区"), ("653101", "新疆维吾尔自治区喀什地区喀什市"))

_VILLAGE_SUFFIXES = "庄楼湾营寨岗集店桥屯洼园庙坡"
_VILLAGE_PREFIXES = ("", "", "", "前", "后", "东", "西", "大", "小")
_VILLAGE_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高罗郑梁谢宋唐许韩冯邓曹彭田董袁潘"
_CN_DIGITS = "零一二三四五六七八九"


def _make_villages(rng: random.Random, count: int) -> tuple[str, ...]:
    names: list[str] = []
    while len(names) < count:
        name = rng.choice(_VILLAGE_PREFIXES) + rng.choice(_VILLAGE_SURNAMES) + rng.choice(_VILLAGE_SUFFIXES)
        if name not in names:
            names.append(name)
    return tuple(names)


_GEO_RNG = random.Random(int(COUNTY_CODE))
VILLAGES: tuple[tuple[str, ...], ...] = tuple(_make_villages(_GEO_RNG, 14) for _ in TOWNSHIPS)


def chinese_number(n: int) -> str:
    """1..99 in Chinese numerals: 3 -> 三, 12 -> 十二, 20 -> 二十."""
    if n < 10:
        return _CN_DIGITS[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else _CN_DIGITS[tens]) + "十" + (_CN_DIGITS[ones] if ones else "")


@dataclass(frozen=True, slots=True)
class Address:
    township: int
    village: int  # index into VILLAGES[township], or into COMMUNITIES when urban
    group: int  # 村民组 (rural) or building number (urban)
    house: int  # house number (rural) or street number (urban)
    urban: bool = False
    estate: int = 0
    unit: int = 0
    room: int = 0

    @property
    def neighbourhood(self) -> tuple[int, int, bool]:
        """People sharing this key are neighbours."""
        return self.township, self.village, self.urban

    @property
    def township_name(self) -> str:
        return TOWNSHIPS[self.township][0]

    @property
    def place(self) -> str:
        """Village or estate name, without house details."""
        if self.urban:
            return self.township_name + ESTATES[self.estate]
        return self.township_name + VILLAGES[self.township][self.village] + "村"


_TOWNSHIP_INDEXES = range(len(TOWNSHIPS))
_TOWNSHIP_CUM = list(accumulate(TOWNSHIP_WEIGHTS))


def make_address(rng: random.Random) -> Address:
    if rng.random() < URBAN_SHARE:
        return Address(0, rng.randrange(len(COMMUNITIES)), rng.randint(1, 24), rng.randint(1, 300), True,
                       rng.randrange(len(ESTATES)), rng.randint(1, 4), rng.randint(1, 18) * 100 + rng.randint(1, 4))
    township = rng.choices(_TOWNSHIP_INDEXES, cum_weights=_TOWNSHIP_CUM)[0]
    return Address(township, rng.randrange(len(VILLAGES[township])), rng.randint(1, 12), rng.randint(1, 80))


_PREFIXES = (PROVINCE + CITY + COUNTY, CITY + COUNTY, COUNTY, "")


def render_address(addr: Address, rng: random.Random, prefix_weights: tuple[float, ...]) -> str:
    """The address as one clerk would write it: with or without the county prefix, 3组 or 三组 or
    第三村民组, 27号 or 27, 3号楼2单元501室 or 3-2-501."""
    prefix = rng.choices(_PREFIXES, weights=prefix_weights)[0]
    if addr.urban:
        estate = ESTATES[addr.estate]
        style = rng.randrange(3)
        if style == 0:
            return (f"{prefix}城关镇{COMMUNITIES[addr.village]}{estate}"
                    f"{addr.group}号楼{addr.unit}单元{addr.room}室")
        if style == 1:
            return f"{prefix}{STREETS[addr.village]}{addr.house}号{estate}{addr.group}-{addr.unit}-{addr.room}"
        return f"{prefix}{estate}小区{addr.group}栋{addr.unit}单元{addr.room}"
    township = TOWNSHIPS[addr.township][0]
    village = VILLAGES[addr.township][addr.village] + rng.choice(("村", "村", "村", "村委会", "行政村"))
    group_style = rng.randrange(10)
    if group_style < 5:
        group = f"{addr.group}组"
    elif group_style < 8:
        group = chinese_number(addr.group) + "组"
    else:
        group = f"第{chinese_number(addr.group)}村民组"
    house = rng.choice((f"{addr.house}号", f"{addr.house}号", f"{addr.house}", ""))
    return f"{prefix}{township}{village}{group}{house}"


def render_hukou_elsewhere(place: str, rng: random.Random) -> str:
    """A registered (户籍) address outside the county, for people whose id was issued elsewhere."""
    village = rng.choice(_VILLAGE_SURNAMES) + rng.choice(_VILLAGE_SUFFIXES)
    return f"{place}{village}村{rng.randint(1, 9)}组{rng.randint(1, 60)}号"


def police_station(township: int) -> str:
    return TOWNSHIPS[township][1] + "派出所"


def justice_office(township: int) -> str:
    return TOWNSHIPS[township][1] + "司法所"


def village_committee(addr: Address) -> str:
    if addr.urban:
        return COMMUNITIES[addr.village] + "人民调解委员会"
    return TOWNSHIPS[addr.township][0] + VILLAGES[addr.township][addr.village] + "村人民调解委员会"


def township_committee(township: int) -> str:
    return TOWNSHIPS[township][0] + "人民调解委员会"


COUNTY_COMMITTEE = COUNTY + "疑难纠纷调处专班"
MEDICAL_COMMITTEE = COUNTY + "医疗纠纷人民调解委员会"
TRAFFIC_COMMITTEE = COUNTY + "道路交通事故纠纷人民调解委员会"
