"""The counties of the synthetic prefecture (驻马店市, 河南省), their townships, villages and agencies,
and addresses written the many ways clerks write them.

County 0 is 清源县 (411730), a fictional county with a real-looking code; counties 1, 2, ... are
derived from their index alone (division code 411730 + index, a name from `COUNTY_NAMES`, townships,
villages, estates and offices drawn from a RNG seeded by the code), independent of the run seed,
so that every run with K counties shares the same K counties and county 0 is the same in all of them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import cached_property
from itertools import accumulate

PROVINCE, CITY = "河南省", "驻马店市"
PROVINCE_ABBR = "豫"  # the court prefix in case numbers: province abbreviation + last 4 digits of the code
AREA_CODE = "0396"

# Where people's id numbers were issued: (division code, place name, share). The first entry stands
# for the person's own county; the others are neighbouring counties and other provinces.
OTHER_DIVISIONS: tuple[tuple[str, str, float], ...] = (
    ("411702", "河南省驻马店市驿城区", 0.04), ("411721", "河南省驻马店市西平县", 0.02),
    ("411722", "河南省驻马店市上蔡县", 0.03), ("411723", "河南省驻马店市平舆县", 0.02),
    ("411724", "河南省驻马店市正阳县", 0.01),
    ("341221", "安徽省阜阳市临泉县", 0.025), ("341282", "安徽省阜阳市界首市", 0.01),
    ("420106", "湖北省武汉市武昌区", 0.01), ("320102", "江苏省南京市玄武区", 0.01),
    ("440304", "广东省深圳市福田区", 0.01), ("510104", "四川省成都市锦江区", 0.01),
    ("370102", "山东省济南市历下区", 0.005),
)
HOME_DIVISION_SHARE = 0.80
MINORITY_DIVISIONS = (("650102", "新疆维吾尔自治区乌鲁木齐市天山区"), ("653101", "新疆维吾尔自治区喀什地区喀什市"))

_VILLAGE_SUFFIXES = "庄楼湾营寨岗集店桥屯洼园庙坡"
_VILLAGE_PREFIXES = ("", "", "", "前", "后", "东", "西", "大", "小")
_VILLAGE_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高罗郑梁谢宋唐许韩冯邓曹彭田董袁潘"
_CN_DIGITS = "零一二三四五六七八九"

# --- 清源县, county 0 -------------------------------------------------------------------------------
# (name, short name used by offices, people's tribunal that covers it)
QINGYUAN_TOWNSHIPS: tuple[tuple[str, str, str], ...] = (
    ("城关镇", "城关", "城关人民法庭"), ("李店镇", "李店", "李店人民法庭"), ("王桥镇", "王桥", "李店人民法庭"),
    ("韩集镇", "韩集", "韩集人民法庭"), ("杨埠镇", "杨埠", "韩集人民法庭"), ("孙庄乡", "孙庄", "城关人民法庭"),
    ("刘寨乡", "刘寨", "马湾人民法庭"), ("河坞乡", "河坞", "马湾人民法庭"), ("马湾乡", "马湾", "马湾人民法庭"),
    ("龙口镇", "龙口", "韩集人民法庭"),
)
QINGYUAN_WEIGHTS = (3.0, 1.2, 1.0, 1.1, 0.9, 0.7, 0.8, 0.6, 0.8, 1.0)
QINGYUAN_STREETS = ("建设路", "人民路", "文化路", "解放路", "滨河大道", "新华街")
QINGYUAN_COMMUNITIES = ("建设路社区", "人民路社区", "文化路社区", "解放路社区", "滨河社区", "新华社区")
QINGYUAN_ESTATES = ("幸福家园", "锦绣花园", "阳光小区", "盛世名城", "御景湾", "翰林苑", "金水湾", "世纪城")
URBAN_SHARE = 0.3  # share of residents living in the estates of 城关镇 (the county town)

# --- the other counties: fictional names, one distinct abbreviation character each ----------------
COUNTY_NAMES = (
    "临溪县", "桐川县", "柏坪县", "兰泽县", "安丰县", "永宁县", "河阴县", "云岭县", "乐川县", "广济县",
    "白泉县", "金坪县", "石桥县", "凤鸣县", "龙渠县", "宁川县", "东岗县", "南塘县", "泉源县", "青陂县",
    "明川县", "阳丘县", "双桥县", "汾水县", "潭口县", "杨集县", "梅林县", "松岗县", "竹沟县", "槐川县",
    "桃溪县", "柳湾县", "杏坪县", "枣林县", "荷阳县", "芦湖县", "莲塘县", "蒲阳县", "葛陂县", "黄渠县",
)
MAX_COUNTIES = 1 + len(COUNTY_NAMES)
_TOWNSHIP_SUFFIXES = "店集庄桥寨湾岗埠口营铺楼坡"
_STREET_POOL = ("建设路", "人民路", "文化路", "解放路", "滨河大道", "新华街", "中山路", "和平路", "光明路",
                "朝阳路", "工业路", "府前街", "东风路", "胜利路", "健康路", "育才路", "交通路", "迎宾大道")
_ESTATE_POOL = ("幸福家园", "锦绣花园", "阳光小区", "盛世名城", "御景湾", "翰林苑", "金水湾", "世纪城",
                "书香门第", "丽景花园", "滨河苑", "龙湖湾", "东方明珠", "名门世家", "紫荆苑", "香榭丽舍",
                "帝景豪庭", "恒大名都", "建业森林半岛", "正商书香华府", "锦江国际", "凤凰城", "桂园小区", "华府新城")


def _make_villages(rng: random.Random, count: int) -> tuple[str, ...]:
    names: list[str] = []
    while len(names) < count:
        name = rng.choice(_VILLAGE_PREFIXES) + rng.choice(_VILLAGE_SURNAMES) + rng.choice(_VILLAGE_SUFFIXES)
        if name not in names:
            names.append(name)
    return tuple(names)


def chinese_number(n: int) -> str:
    """1..99 in Chinese numerals: 3 -> 三, 12 -> 十二, 20 -> 二十."""
    if n < 10:
        return _CN_DIGITS[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else _CN_DIGITS[tens]) + "十" + (_CN_DIGITS[ones] if ones else "")


def _community(street: str) -> str:
    """The residents' community named after its street: 建设路 -> 建设路社区, 滨河大道 -> 滨河社区."""
    for suffix in ("大道", "街"):
        if street.endswith(suffix):
            return street.removesuffix(suffix) + "社区"
    return street + "社区"


@dataclass(frozen=True, slots=True)
class Address:
    township: int
    village: int  # index into the county's villages of the township, or into its communities when urban
    group: int  # 村民组 (rural) or building number (urban)
    house: int  # house number (rural) or street number (urban)
    urban: bool = False
    estate: int = 0
    unit: int = 0
    room: int = 0
    county: int = 0  # county index (0 = 清源县)

    @property
    def neighbourhood(self) -> tuple[int, int, bool]:
        """People sharing this key are neighbours (within one county)."""
        return self.township, self.village, self.urban

    @property
    def township_name(self) -> str:
        return county(self.county).townships[self.township][0]

    @property
    def place(self) -> str:
        """Village or estate name, without house details."""
        c = county(self.county)
        if self.urban:
            return c.townships[self.township][0] + c.estates[self.estate]
        return c.townships[self.township][0] + c.villages[self.township][self.village] + "村"


@dataclass(frozen=True, eq=False)
class County:
    """One county: its division code, places and offices. Build with `county(index)`."""

    index: int
    name: str  # 清源县
    code: str  # 411730
    abbr: str  # 清: the one-character abbreviation in document numbers (清法援字, 清公（城关）家暴告字)
    townships: tuple[tuple[str, str, str], ...]  # (name, short name, people's tribunal)
    township_weights: tuple[float, ...]
    streets: tuple[str, ...]
    communities: tuple[str, ...]  # communities[i] lies on streets[i]
    estates: tuple[str, ...]
    villages: tuple[tuple[str, ...], ...]  # per township
    # 清源's mediation and referral numbers carry no county mark (kept as they were before there were
    # several counties); the other counties start them with their abbreviation, so that every agency
    # number is unique across the prefecture.
    number_prefix: str = ""
    _township_cum: list[float] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self._township_cum.extend(accumulate(self.township_weights))

    @property
    def short(self) -> str:
        """清源县 -> 清源."""
        return self.name[:-1]

    @property
    def full_name(self) -> str:
        return PROVINCE + CITY + self.name

    @property
    def court_code(self) -> str:
        return PROVINCE_ABBR + self.code[2:]

    @property
    def court_name(self) -> str:
        return self.name + "人民法院"

    @property
    def justice_bureau(self) -> str:
        return self.name + "司法局"

    @property
    def registry(self) -> str:
        return self.name + "民政局婚姻登记处"

    @property
    def county_committee(self) -> str:
        return self.name + "疑难纠纷调处专班"

    @property
    def medical_committee(self) -> str:
        return self.name + "医疗纠纷人民调解委员会"

    @property
    def traffic_committee(self) -> str:
        return self.name + "道路交通事故纠纷人民调解委员会"

    @property
    def legal_aid_providers(self) -> tuple[str, str, str]:
        return self.name + "法律援助中心", "河南" + self.short + "律师事务所", "河南正义律师事务所"

    @property
    def hospitals(self) -> tuple[str, ...]:
        return (self.name + "人民医院", self.name + "中医院", self.name + "妇幼保健院",
                self.townships[1][0] + "卫生院", self.townships[3][0] + "卫生院")

    @cached_property
    def id_divisions(self) -> tuple[tuple[str, str, float], ...]:
        """Where its residents' id numbers were issued: here, or elsewhere (`OTHER_DIVISIONS`)."""
        return ((self.code, self.full_name, HOME_DIVISION_SHARE), *OTHER_DIVISIONS)

    @cached_property
    def address_prefixes(self) -> tuple[str, str, str, str]:
        return self.full_name, CITY + self.name, self.name, ""

    def manifest(self) -> dict[str, str]:
        """The county as an export's manifest.json states it (what the connectors read)."""
        return {"name": self.full_name, "division_code": self.code, "court_code": self.court_code,
                "court_name": self.court_name, "justice_bureau": self.justice_bureau,
                "civil_affairs_registry": self.registry}

    # --- offices
    def police_station(self, township: int) -> str:
        return self.townships[township][1] + "派出所"

    def justice_office(self, township: int) -> str:
        return self.townships[township][1] + "司法所"

    def tribunal(self, township: int) -> str:
        return self.townships[township][2]

    def village_committee(self, addr: Address) -> str:
        if addr.urban:
            return self.communities[addr.village] + "人民调解委员会"
        return self.townships[addr.township][0] + self.villages[addr.township][addr.village] + "村人民调解委员会"

    def township_committee(self, township: int) -> str:
        return self.townships[township][0] + "人民调解委员会"

    # --- addresses
    def make_address(self, rng: random.Random) -> Address:
        if rng.random() < URBAN_SHARE:
            return Address(0, rng.randrange(len(self.communities)), rng.randint(1, 24), rng.randint(1, 300), True,
                           rng.randrange(len(self.estates)), rng.randint(1, 4),
                           rng.randint(1, 18) * 100 + rng.randint(1, 4), self.index)
        township = rng.choices(range(len(self.townships)), cum_weights=self._township_cum)[0]
        return Address(township, rng.randrange(len(self.villages[township])), rng.randint(1, 12),
                       rng.randint(1, 80), county=self.index)

    def render_address(self, addr: Address, rng: random.Random, prefix_weights: tuple[float, ...]) -> str:
        """The address as one clerk would write it: with or without the county prefix, 3组 or 三组 or
        第三村民组, 27号 or 27, 3号楼2单元501室 or 3-2-501."""
        prefix = rng.choices(self.address_prefixes, weights=prefix_weights)[0]
        if addr.urban:
            estate = self.estates[addr.estate]
            style = rng.randrange(3)
            if style == 0:
                return (f"{prefix}{self.townships[0][0]}{self.communities[addr.village]}{estate}"
                        f"{addr.group}号楼{addr.unit}单元{addr.room}室")
            if style == 1:
                return f"{prefix}{self.streets[addr.village]}{addr.house}号{estate}{addr.group}-{addr.unit}-{addr.room}"
            return f"{prefix}{estate}小区{addr.group}栋{addr.unit}单元{addr.room}"
        township = self.townships[addr.township][0]
        village = self.villages[addr.township][addr.village] + rng.choice(("村", "村", "村", "村委会", "行政村"))
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


def _qingyuan() -> County:
    villages = random.Random(int("411730"))
    return County(0, "清源县", "411730", "清", QINGYUAN_TOWNSHIPS, QINGYUAN_WEIGHTS, QINGYUAN_STREETS,
                  QINGYUAN_COMMUNITIES, QINGYUAN_ESTATES,
                  tuple(_make_villages(villages, 14) for _ in QINGYUAN_TOWNSHIPS))


def _derived(index: int, taken: set[str]) -> County:
    """County `index` >= 1; `taken` holds the township names of the counties before it, so that
    township names are unique across the prefecture (except 城关镇, the seat of every county)."""
    name = COUNTY_NAMES[index - 1]
    code = f"{411730 + index}"
    rng = random.Random(f"county:{code}")
    names, count = ["城关镇"], rng.randint(8, 12)
    while len(names) < count:
        candidate = rng.choice(_VILLAGE_SURNAMES) + rng.choice(_TOWNSHIP_SUFFIXES) + rng.choice("镇镇乡")
        if candidate[:2] not in {n[:2] for n in names} and candidate[:2] not in taken:
            names.append(candidate)
    taken.update(n[:2] for n in names[1:])
    seats = [0, *rng.sample(range(1, len(names)), 3)]  # townships that host a people's tribunal
    townships = tuple((n, n[:2], names[seat][:2] + "人民法庭")
                      for n, seat in ((n, i if i in seats else rng.choice(seats)) for i, n in enumerate(names)))
    weights = (3.0, *(round(rng.uniform(0.6, 1.2), 1) for _ in names[1:]))
    streets = tuple(rng.sample(_STREET_POOL, 6))
    estates = tuple(rng.sample(_ESTATE_POOL, 8))
    villages = random.Random(int(code))
    return County(index, name, code, name[0], townships, weights, streets, tuple(_community(s) for s in streets),
                  estates, tuple(_make_villages(villages, 14) for _ in townships), number_prefix=name[0])


_COUNTIES: list[County] = [_qingyuan()]
_TAKEN: set[str] = {t[1] for t in QINGYUAN_TOWNSHIPS[1:]}


def county(index: int) -> County:
    """County `index` (0 = 清源县); the same index always gives the same county."""
    if not 0 <= index < MAX_COUNTIES:
        raise ValueError(f"county index: expected 0..{MAX_COUNTIES - 1}, got {index}")
    while len(_COUNTIES) <= index:
        _COUNTIES.append(_derived(len(_COUNTIES), _TAKEN))
    return _COUNTIES[index]


QINGYUAN = county(0)
