"""The domain's closed sets with the Chinese labels agencies use (see DOMAIN.md)."""

from __future__ import annotations

DISPUTE_TYPES = {
    "婚姻家庭": "marriage_family", "邻里": "neighbour", "土地承包/宅基地": "land_homestead",
    "劳动争议/欠薪": "labour_wages", "民间借贷/债务": "private_lending", "交通事故": "traffic_accident",
    "物业": "property_management", "网络购物/消费": "online_shopping", "医疗": "medical", "损害赔偿": "damages",
    "征地拆迁": "land_requisition", "其他": "other",
    # common variants
    "邻里纠纷": "neighbour", "婚姻家庭纠纷": "marriage_family", "劳动争议": "labour_wages", "欠薪": "labour_wages",
    "民间借贷": "private_lending", "土地承包": "land_homestead", "宅基地": "land_homestead",
    "消费": "online_shopping", "医疗纠纷": "medical",
}

# Keywords of a court's cause of action (案由) -> dispute type, most specific first.
CAUSE_KEYWORDS: tuple[tuple[str, str], ...] = (
    ("人身安全保护令", "marriage_family"), ("离婚", "marriage_family"), ("婚姻", "marriage_family"),
    ("抚养", "marriage_family"), ("赡养", "marriage_family"), ("继承", "marriage_family"),
    ("家庭", "marriage_family"),
    ("劳动报酬", "labour_wages"), ("劳动", "labour_wages"), ("工资", "labour_wages"), ("劳务", "labour_wages"),
    ("借贷", "private_lending"), ("借款", "private_lending"), ("债务", "private_lending"),
    ("交通", "traffic_accident"), ("物业", "property_management"),
    ("网络购物", "online_shopping"), ("买卖合同", "online_shopping"), ("消费", "online_shopping"),
    ("医疗", "medical"), ("宅基地", "land_homestead"), ("土地承包", "land_homestead"),
    ("相邻", "neighbour"), ("排除妨害", "neighbour"), ("征收", "land_requisition"), ("拆迁", "land_requisition"),
    ("伤害", "damages"), ("赔偿", "damages"), ("损害", "damages"), ("生命权", "damages"), ("身体权", "damages"),
    ("健康权", "damages"), ("寻衅滋事", "damages"), ("故意毁坏财物", "damages"),
)


def dispute_type_of_cause(cause: str | None) -> str:
    """The hub's dispute type for a court's cause of action, by keyword; 'other' when none fits."""
    if not cause:
        return "other"
    for keyword, dispute_type in CAUSE_KEYWORDS:
        if keyword in cause:
            return dispute_type
    return "other"


# 当事人关系: how the parties of a dispute are related (MediationCaseOpened.relationship).
RELATIONSHIPS = {
    "家庭成员": "family", "夫妻": "family", "亲属": "family", "邻里": "neighbours", "邻居": "neighbours",
    "劳动关系": "employment", "雇佣": "employment", "劳务": "employment", "经营往来": "business", "合同": "business",
    "熟人": "acquaintances", "朋友": "acquaintances", "同事": "acquaintances", "陌生人": "strangers",
    "与单位": "organisation", "单位": "organisation",
}

RISK_LEVELS = {"红": "red", "黄": "yellow", "蓝": "blue", "红色": "red", "黄色": "yellow", "蓝色": "blue"}
