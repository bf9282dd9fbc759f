"""Synthetic Chinese names: surname frequencies, era-dependent given names, minority names,
and the clerical noise (homophones, traditional variants, middle-dot variants) real records carry."""

from __future__ import annotations

import random
from bisect import bisect
from itertools import accumulate

# Top surnames with approximate population shares in percent (census-like figures).
SURNAME_SHARES: tuple[tuple[str, float], ...] = (
    ("王", 7.12), ("李", 7.00), ("张", 6.74), ("刘", 5.10), ("陈", 4.61), ("杨", 3.22), ("黄", 2.45),
    ("赵", 2.00), ("吴", 1.97), ("周", 1.87), ("徐", 1.45), ("孙", 1.38), ("马", 1.29), ("朱", 1.28),
    ("胡", 1.16), ("郭", 1.15), ("何", 1.06), ("林", 1.03), ("高", 1.00), ("罗", 0.95), ("郑", 0.88),
    ("梁", 0.86), ("谢", 0.76), ("宋", 0.70), ("唐", 0.69), ("许", 0.66), ("韩", 0.64), ("冯", 0.62),
    ("邓", 0.62), ("曹", 0.61), ("彭", 0.59), ("曾", 0.57), ("肖", 0.56), ("田", 0.52), ("董", 0.51),
    ("袁", 0.50), ("潘", 0.50), ("于", 0.49), ("蒋", 0.48), ("蔡", 0.47), ("余", 0.47), ("杜", 0.45),
    ("叶", 0.45), ("程", 0.44), ("苏", 0.43), ("魏", 0.42), ("吕", 0.42), ("丁", 0.41), ("任", 0.40),
    ("沈", 0.39), ("姚", 0.38), ("卢", 0.38), ("姜", 0.37), ("崔", 0.36), ("钟", 0.35), ("谭", 0.35),
    ("陆", 0.34), ("汪", 0.33), ("范", 0.33), ("金", 0.32), ("石", 0.31), ("廖", 0.31), ("贾", 0.30),
    ("夏", 0.30), ("韦", 0.29), ("付", 0.29), ("方", 0.28), ("白", 0.28), ("邹", 0.27), ("孟", 0.27),
    ("熊", 0.26), ("秦", 0.26), ("邱", 0.25), ("江", 0.25), ("尹", 0.24), ("薛", 0.24), ("闫", 0.23),
    ("段", 0.23), ("雷", 0.22), ("侯", 0.22), ("龙", 0.22), ("史", 0.21), ("陶", 0.21), ("黎", 0.21),
    ("贺", 0.20), ("顾", 0.20), ("毛", 0.20), ("郝", 0.19), ("龚", 0.19), ("邵", 0.19), ("万", 0.18),
    ("钱", 0.18), ("严", 0.18), ("覃", 0.17), ("武", 0.17), ("戴", 0.17), ("莫", 0.16), ("孔", 0.16),
    ("向", 0.16), ("汤", 0.15), ("常", 0.15), ("温", 0.14), ("康", 0.14), ("施", 0.13), ("文", 0.13),
    ("牛", 0.13), ("樊", 0.12), ("葛", 0.12), ("邢", 0.12), ("安", 0.11), ("齐", 0.11), ("易", 0.11),
    ("乔", 0.10), ("伍", 0.10), ("庞", 0.10), ("颜", 0.10), ("倪", 0.09), ("庄", 0.09), ("聂", 0.09),
    ("章", 0.09), ("鲁", 0.08), ("岳", 0.08), ("翟", 0.08), ("申", 0.08), ("欧阳", 0.04), ("司马", 0.01),
    ("诸葛", 0.01), ("上官", 0.01),
)

# Given-name characters, most common first (weights fall off like a Zipf law).
MALE_CHARS = "伟军勇强磊涛斌杰明刚平辉鹏华飞鑫波超建国峰亮林浩宇文俊永海东志新龙成洋帅凯健宁旭坤阳博轩睿德庆福"
FEMALE_CHARS = "芳娜敏静丽艳娟霞燕玲婷洁红梅琳秀英兰萍雪慧莉倩颖丹晶佳欣悦怡雨涵萱诗琪月凤桂玉春云"
# Characters that start two-character given names, by era (older, middle, younger generations).
MALE_FIRST = ("建国志永德学振文明长", "晓海俊建志国文小红伟", "子浩宇俊梓一嘉博思家")
FEMALE_FIRST = ("秀桂玉淑凤翠金春素兰", "晓丽美海小红春雪艳彩", "子梓欣雨诗思一可佳语")

# Homophones and near-homophones clerks type by mistake (misheard or wrong IME candidate).
HOMOPHONES: dict[str, str] = {
    "张": "章", "章": "张", "王": "汪", "汪": "王", "杨": "阳扬", "徐": "许", "许": "徐", "吴": "伍",
    "何": "贺", "胡": "扈", "肖": "萧", "于": "余俞", "余": "于", "黄": "皇", "刘": "留", "程": "成",
    "娜": "纳", "丽": "莉俐", "莉": "丽", "伟": "玮炜", "芳": "方", "静": "菁", "军": "君", "涛": "滔",
    "斌": "彬", "明": "铭", "刚": "钢", "平": "萍", "萍": "平", "辉": "晖", "华": "桦", "飞": "菲",
    "波": "博", "红": "宏", "艳": "燕", "燕": "艳", "霞": "侠", "玲": "琳", "琳": "林", "婷": "亭",
    "洁": "杰", "杰": "洁", "梅": "玫", "林": "琳", "建": "健", "英": "莹", "秀": "绣", "兰": "岚",
    "凤": "风", "文": "雯", "志": "智", "勇": "永", "峰": "锋", "磊": "雷", "敏": "民", "娟": "鹃",
    "鹏": "朋", "宇": "雨", "浩": "皓", "俊": "峻", "新": "鑫", "鑫": "新", "海": "还", "颖": "莹",
    "晶": "静", "佳": "家", "欣": "馨", "怡": "宜", "雪": "学", "慧": "惠", "倩": "茜", "玉": "钰",
}

# Simplified -> traditional (variant characters seen when records come from other input systems).
TRADITIONAL: dict[str, str] = dict(zip(
    "陈刘张杨黄赵吴孙马罗郑谢许韩冯邓肖董蒋叶苏吕卢钟谭陆贾韦邹闫龙贺顾龚万钱严汤庄聂伟丽华军国红艳飞刚辉"
    "凤兰云鹏涛宁杰强东进宝贵庆荣发兴义爱丰凯颖洁岚欢晓学长凤龙伦",
    "陳劉張楊黃趙吳孫馬羅鄭謝許韓馮鄧蕭董蔣葉蘇呂盧鍾譚陸賈韋鄒閆龍賀顧龔萬錢嚴湯莊聶偉麗華軍國紅艷飛剛輝"
    "鳳蘭雲鵬濤寧傑強東進寶貴慶榮發興義愛豐凱穎潔嵐歡曉學長鳳龍倫", strict=True))

# Uyghur-style names written with a middle dot (given name · father's name).
MINORITY_MALE = ("阿不都", "买买提", "艾力", "吐尔逊", "热合曼", "艾合买提", "玉苏甫", "阿布拉", "依明", "卡德尔")
MINORITY_FEMALE = ("阿依古丽", "古丽娜尔", "热依拉", "帕提古丽", "米热古丽", "努尔古丽", "阿米娜", "祖丽菲亚")
MIDDLE_DOTS = ("·", "·", "·", "•", "．", ".", "")

_SURNAMES = [s for s, _ in SURNAME_SHARES]
_SURNAME_CUM = list(accumulate(w for _, w in SURNAME_SHARES))


def _zipf_cum(n: int, exponent: float = 0.9) -> list[float]:
    return list(accumulate(1.0 / (rank + 1) ** exponent for rank in range(n)))


_MALE_CUM = _zipf_cum(len(MALE_CHARS))
_FEMALE_CUM = _zipf_cum(len(FEMALE_CHARS))


def _pick(rng: random.Random, items: str | list[str], cum: list[float]) -> str:
    return items[bisect(cum, rng.random() * cum[-1])]


def _era(birth_year: int) -> int:
    return 0 if birth_year < 1965 else (1 if birth_year < 1990 else 2)


def make_name(rng: random.Random, male: bool, birth_year: int) -> tuple[str, str]:
    """Return (surname, given name). Single-character given names were most common for people
    born 1965-1990, which is what makes 张伟 and 王芳 so frequent."""
    surname = _SURNAMES[bisect(_SURNAME_CUM, rng.random() * _SURNAME_CUM[-1])]
    chars, cum = (MALE_CHARS, _MALE_CUM) if male else (FEMALE_CHARS, _FEMALE_CUM)
    era = _era(birth_year)
    single_share = (0.35, 0.5, 0.2)[era]
    if rng.random() < single_share:
        return surname, _pick(rng, chars, cum)
    first = rng.choice((MALE_FIRST if male else FEMALE_FIRST)[era])
    return surname, first + _pick(rng, chars, cum)


def make_minority_name(rng: random.Random, male: bool) -> tuple[str, str]:
    """Return ("", full name with a middle dot): these names have no Han-style surname."""
    own = rng.choice(MINORITY_MALE if male else MINORITY_FEMALE)
    father = rng.choice(MINORITY_MALE)
    return "", f"{own}·{father}"


def homophone_variant(name: str, rng: random.Random) -> str:
    """Replace one character that has a known homophone (if any)."""
    positions = [i for i, ch in enumerate(name) if ch in HOMOPHONES]
    if not positions:
        return name
    i = rng.choice(positions)
    return name[:i] + rng.choice(HOMOPHONES[name[i]]) + name[i + 1:]


def traditional_variant(name: str) -> str:
    return "".join(TRADITIONAL.get(ch, ch) for ch in name)


def dot_variant(name: str, rng: random.Random) -> str:
    return name.replace("·", rng.choice(MIDDLE_DOTS))


def noisy_name(name: str, rng: random.Random, p_homophone: float, p_traditional: float) -> str:
    """The name as a clerk typed it."""
    r = rng.random()
    if r < p_homophone:
        name = homophone_variant(name, rng)
    elif r < p_homophone + p_traditional:
        name = traditional_variant(name)
    if "·" in name and rng.random() < 0.3:
        name = dot_variant(name, rng)
    return name
