"""Buyers and leaders as they write themselves: Chinese names, mainland mobile numbers, addresses across many
provinces, and the few broken ones (a wrong phone, an address too short to deliver) that get an order held.

Addresses are written the way buyers type them into a checkout: the province with or without 省, the city with
or without 市, a real district of that city, then street, number, estate, building and room.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Any

# (province as officially named, city as officially named, real districts of that city, weight ~ order volume)
CITIES: tuple[tuple[str, str, tuple[str, ...], int], ...] = (
    ("广东省", "广州市", ("天河区", "越秀区", "海珠区", "番禺区", "白云区"), 9),
    ("广东省", "深圳市", ("南山区", "福田区", "宝安区", "龙岗区"), 9),
    ("广东省", "佛山市", ("禅城区", "南海区", "顺德区"), 4),
    ("广东省", "东莞市", ("南城街道", "东城街道", "长安镇"), 4),
    ("广东省", "珠海市", ("香洲区", "金湾区"), 2),
    ("浙江省", "杭州市", ("西湖区", "上城区", "拱墅区", "余杭区", "滨江区"), 8),
    ("浙江省", "宁波市", ("鄞州区", "海曙区", "江北区"), 4),
    ("浙江省", "温州市", ("鹿城区", "瓯海区"), 3),
    ("浙江省", "金华市", ("婺城区", "义乌市"), 3),
    ("江苏省", "南京市", ("鼓楼区", "玄武区", "建邺区", "江宁区"), 6),
    ("江苏省", "苏州市", ("姑苏区", "吴中区", "相城区"), 6),
    ("江苏省", "无锡市", ("梁溪区", "滨湖区"), 3),
    ("江苏省", "徐州市", ("云龙区", "鼓楼区"), 2),
    ("上海市", "上海市", ("浦东新区", "徐汇区", "闵行区", "静安区", "杨浦区"), 9),
    ("北京市", "北京市", ("朝阳区", "海淀区", "丰台区", "西城区", "通州区"), 8),
    ("天津市", "天津市", ("南开区", "河西区", "滨海新区"), 3),
    ("重庆市", "重庆市", ("渝北区", "江北区", "九龙坡区", "沙坪坝区"), 4),
    ("四川省", "成都市", ("武侯区", "锦江区", "金牛区", "双流区"), 7),
    ("四川省", "绵阳市", ("涪城区", "游仙区"), 1),
    ("湖北省", "武汉市", ("武昌区", "洪山区", "江汉区", "江岸区"), 6),
    ("湖北省", "宜昌市", ("西陵区", "伍家岗区"), 1),
    ("湖北省", "襄阳市", ("樊城区", "襄城区"), 1),
    ("湖南省", "长沙市", ("岳麓区", "雨花区", "开福区"), 4),
    ("湖南省", "株洲市", ("天元区", "芦淞区"), 1),
    ("山东省", "济南市", ("历下区", "市中区", "槐荫区"), 3),
    ("山东省", "青岛市", ("市南区", "崂山区", "黄岛区"), 3),
    ("山东省", "烟台市", ("芝罘区", "莱山区"), 1),
    ("河南省", "郑州市", ("金水区", "二七区", "中原区"), 4),
    ("河南省", "洛阳市", ("洛龙区", "西工区"), 1),
    ("河北省", "石家庄市", ("长安区", "桥西区"), 2),
    ("河北省", "保定市", ("竞秀区", "莲池区"), 1),
    ("福建省", "福州市", ("鼓楼区", "仓山区"), 2),
    ("福建省", "厦门市", ("思明区", "湖里区"), 3),
    ("福建省", "泉州市", ("丰泽区", "鲤城区"), 2),
    ("安徽省", "合肥市", ("蜀山区", "包河区", "庐阳区"), 3),
    ("江西省", "南昌市", ("东湖区", "红谷滩区"), 2),
    ("江西省", "赣州市", ("章贡区", "南康区"), 1),
    ("陕西省", "西安市", ("雁塔区", "碑林区", "未央区"), 4),
    ("辽宁省", "沈阳市", ("和平区", "沈河区", "浑南区"), 2),
    ("辽宁省", "大连市", ("中山区", "甘井子区"), 2),
    ("吉林省", "长春市", ("朝阳区", "南关区"), 1),
    ("黑龙江省", "哈尔滨市", ("南岗区", "道里区"), 2),
    ("广西壮族自治区", "南宁市", ("青秀区", "西乡塘区"), 2),
    ("广西壮族自治区", "柳州市", ("城中区", "鱼峰区"), 1),
    ("云南省", "昆明市", ("五华区", "盘龙区", "官渡区"), 2),
    ("云南省", "大理白族自治州", ("大理市",), 1),
    ("贵州省", "贵阳市", ("云岩区", "观山湖区"), 2),
    ("山西省", "太原市", ("小店区", "迎泽区"), 2),
    ("海南省", "海口市", ("龙华区", "美兰区"), 1),
    ("海南省", "三亚市", ("吉阳区", "天涯区"), 1),
    ("内蒙古自治区", "呼和浩特市", ("赛罕区", "新城区"), 1),
    ("新疆维吾尔自治区", "乌鲁木齐市", ("天山区", "沙依巴克区"), 1),
    ("西藏自治区", "拉萨市", ("城关区",), 1),
    ("甘肃省", "兰州市", ("城关区", "七里河区"), 1),
    ("宁夏回族自治区", "银川市", ("兴庆区", "金凤区"), 1),
    ("青海省", "西宁市", ("城西区", "城东区"), 1),
)

# fmt: off
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = (
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "秀英",
    "霞", "平", "刚", "桂英", "晓燕", "婷婷", "欣怡", "子涵", "浩然", "一诺", "梓萱", "宇轩", "雨桐", "思远",
    "佳怡", "俊杰", "晓明", "海燕", "春梅", "建华", "志强", "丽娟", "雪梅", "红霞", "文博", "诗涵", "嘉欣",
)
STREETS = (
    "人民路", "中山路", "解放路", "建设路", "和平路", "新华路", "胜利路", "文化路", "朝阳路", "光明路", "长江路",
    "黄河路", "青年路", "幸福路", "迎宾大道", "学府路", "科技路", "花园路", "滨江路", "南京路", "北京路",
    "东风路", "五一路", "延安路", "友谊大街", "长安街", "工农路", "育才路",
)
ESTATES = (
    "阳光花园", "锦绣华庭", "金地名郡", "万科城", "碧桂园", "翠湖山庄", "幸福里", "桂花苑", "紫荆小区",
    "和平新村", "世纪花园", "滨江一号", "龙湖天街", "保利香槟", "绿地新都会", "恒大名都", "融创壹号院",
    "书香门第", "明珠花园", "金色家园", "芙蓉苑", "新城国际", "梧桐苑", "丽景湾", "春江花月",
)
OFFICES = ("国际金融中心", "环球贸易广场", "科技大厦", "创业大厦", "财富中心", "时代广场")
MOBILE_PREFIXES = (
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "155", "156", "157",
    "158", "159", "166", "173", "175", "176", "177", "180", "181", "182", "183", "185", "186", "187", "188",
    "189", "191", "199",
)
AREA_CODES = ("020", "021", "010", "028", "027", "0571", "025", "0755", "023")
# What a hurried buyer types into the street line: too short for a courier to find the door.
VAGUE_ADDRESSES = ("家里", "老地方", "门口", "菜鸟驿站", "公司前台", "放门卫", "小区门口", "楼下")
# fmt: on


@dataclass(frozen=True)
class Place:
    province: str  # official, e.g. "广东省"
    city: str  # official, e.g. "广州市"
    districts: tuple[str, ...]

    @property
    def province_short(self) -> str:
        for suffix in ("壮族自治区", "回族自治区", "维吾尔自治区", "自治区", "省", "市"):
            if self.province.endswith(suffix):
                return self.province[: -len(suffix)]
        return self.province

    @property
    def city_short(self) -> str:
        if self.city.endswith("市") and len(self.city) > 2:
            return self.city[:-1]
        return self.city

    @property
    def is_municipality(self) -> bool:
        return self.province == self.city


PLACES: tuple[Place, ...] = tuple(Place(p, c, d) for p, c, d, _ in CITIES)
PLACE_WEIGHTS: tuple[int, ...] = tuple(w for *_, w in CITIES)


def place_of(city: str) -> Place:
    """The place of an official city name (the simulator's own table)."""
    for place in PLACES:
        if place.city == city:
            return place
    raise KeyError(city)


@dataclass(frozen=True)
class Buyer:
    name: str
    phone: str
    province: str
    city: str
    district: str
    address: str

    def body(self) -> dict[str, str]:
        return {
            "name": self.name,
            "phone": self.phone,
            "province": self.province,
            "city": self.city,
            "district": self.district,
            "address": self.address,
        }


@dataclass(frozen=True)
class Flaw:
    """What is wrong with a buyer's details, and what the leader writes when verifying the order."""

    field: str  # "phone" | "address"
    fix: str


def person_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN)


def mobile(rng: random.Random) -> str:
    return rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"


def written_phone(rng: random.Random, number: str) -> str:
    """Most buyers type the 11 digits; some add +86 or spaces, which screening accepts."""
    roll = rng.random()
    if roll < 0.04:
        return f"+86 {number}"
    if roll < 0.08:
        return f"{number[:3]} {number[3:7]} {number[7:]}"
    return number


def street_address(rng: random.Random) -> str:
    street = rng.choice(STREETS)
    number = rng.randint(1, 999)
    if rng.random() < 0.15:
        return f"{street}{number}号{rng.choice(OFFICES)}{rng.randint(2, 38)}楼"
    building, unit = rng.randint(1, 32), rng.randint(1, 4)
    floor, room = rng.randint(1, 28), rng.randint(1, 4)
    return f"{street}{number}号{rng.choice(ESTATES)}{building}栋{unit}单元{floor}{room:02d}室"


def pick_place(rng: random.Random) -> Place:
    return rng.choices(PLACES, weights=PLACE_WEIGHTS)[0]


def buyer_in(rng: random.Random, place: Place) -> Buyer:
    """A buyer living in `place`, written as buyers write it (province and city with or without suffix)."""
    province = place.province if rng.random() < 0.6 else place.province_short
    city = place.city if rng.random() < 0.6 else place.city_short
    return Buyer(
        name=person_name(rng),
        phone=written_phone(rng, mobile(rng)),
        province=province,
        city=city,
        district=rng.choice(place.districts),
        address=street_address(rng),
    )


def flawed(rng: random.Random, buyer: Buyer) -> tuple[Buyer, Flaw]:
    """The same buyer with a phone that is not a mainland mobile or a street too vague to deliver to."""
    if rng.random() < 0.5:
        number = buyer.phone.replace(" ", "").removeprefix("+86")
        kind = rng.randrange(3)
        if kind == 0:
            wrong = number[:-1]  # a digit dropped
        elif kind == 1:
            wrong = f"{rng.choice(AREA_CODES)}-{rng.randrange(10**7, 10**8)}"  # a landline
        else:
            wrong = number + str(rng.randrange(10))  # a digit too many
        return replace(buyer, phone=wrong), Flaw("phone", number)
    return replace(buyer, address=rng.choice(VAGUE_ADDRESSES)), Flaw("address", buyer.address)


# --- leaders -----------------------------------------------------------------------------------------------

LEADER_TITLES = ("团长", "店长", "主理人", "姐", "哥", "老师")


@dataclass(frozen=True)
class Leader:
    leader: str
    name: str
    community: str
    place: Place
    district: str
    upline: str | None
    pickup_point: dict[str, str] | None

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"name": self.name, "community": self.community, "upline": self.upline}
        body["pickup_point"] = self.pickup_point
        return body


def make_leaders(rng: random.Random, count: int) -> list[Leader]:
    """`count` community leaders across real cities; the first few lead teams, a third of the rest have one
    of them as upline, and about a third run a pickup point (驿站) in their estate."""
    heads = max(1, min(count, max(3, count // 20)))
    leaders: list[Leader] = []
    for i in range(count):
        place = pick_place(rng)
        district = rng.choice(place.districts)
        estate = rng.choice(ESTATES)
        name = person_name(rng)
        title = rng.choice(LEADER_TITLES)
        display = f"{name[0]}{title}" if title in ("姐", "哥", "老师") else f"{name}{title}"
        upline = None
        if i >= heads and rng.random() < 0.35:
            upline = leaders[rng.randrange(heads)].leader
        pickup = None
        if rng.random() < 0.3:
            pickup = {
                "name": f"{estate}驿站",
                "province": place.province,
                "city": place.city,
                "district": district,
                "address": f"{rng.choice(STREETS)}{rng.randint(1, 999)}号{estate}{rng.randint(1, 20)}栋底商",
            }
        leaders.append(
            Leader(
                leader=f"ld-{i + 1:04d}",
                name=f"{display}·{place.city_short}",
                community=f"{place.city_short}{district}{estate}",
                place=place,
                district=district,
                upline=upline,
                pickup_point=pickup,
            )
        )
    return leaders
