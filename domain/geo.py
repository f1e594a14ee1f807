"""Geography facts: China's 34 provincial-level regions, their cities, tier-1 and remote regions, coordinates.

Facts, as data. Names are accepted the way buyers write them ("广东省", "广东", "Guangdong"; "广州市",
"广州"; "延边朝鲜族自治州", "延边州", "延边"); every function answers with the canonical full province name
("广东省") and the short city name ("广州") so that the rest of the domain compares one form.

City data follows the administrative divisions of the PRC (民政部 全国行政区划, 2024): 333 prefecture-level
divisions, the county-level cities and counties administered directly by a province, the districts of the four
municipalities, and the districts of Hong Kong and Macau and the cities and counties of Taiwan.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Point:
    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class Province:
    name: str  # canonical full name, e.g. "广东省"
    short: str  # the form buyers often write, e.g. "广东"
    en: str
    region: str  # the seven administrative regions plus 港澳台
    capital: str  # capital city, short form, e.g. "广州"
    capital_point: Point
    remote: bool  # remote regions: postal carrier, longer delivery


def _p(
    name: str, short: str, en: str, region: str, capital: str, lat: float, lon: float, remote: bool = False
) -> Province:
    return Province(name, short, en, region, capital, Point(lat, lon), remote)


PROVINCES: tuple[Province, ...] = (
    _p("北京市", "北京", "Beijing", "华北", "北京", 39.9042, 116.4074),
    _p("天津市", "天津", "Tianjin", "华北", "天津", 39.3434, 117.3616),
    _p("河北省", "河北", "Hebei", "华北", "石家庄", 38.0428, 114.5149),
    _p("山西省", "山西", "Shanxi", "华北", "太原", 37.8706, 112.5489),
    _p("内蒙古自治区", "内蒙古", "Inner Mongolia", "华北", "呼和浩特", 40.8426, 111.7492, remote=True),
    _p("辽宁省", "辽宁", "Liaoning", "东北", "沈阳", 41.8057, 123.4315),
    _p("吉林省", "吉林", "Jilin", "东北", "长春", 43.8171, 125.3235),
    _p("黑龙江省", "黑龙江", "Heilongjiang", "东北", "哈尔滨", 45.8038, 126.5350),
    _p("上海市", "上海", "Shanghai", "华东", "上海", 31.2304, 121.4737),
    _p("江苏省", "江苏", "Jiangsu", "华东", "南京", 32.0603, 118.7969),
    _p("浙江省", "浙江", "Zhejiang", "华东", "杭州", 30.2741, 120.1551),
    _p("安徽省", "安徽", "Anhui", "华东", "合肥", 31.8206, 117.2272),
    _p("福建省", "福建", "Fujian", "华东", "福州", 26.0745, 119.2965),
    _p("江西省", "江西", "Jiangxi", "华东", "南昌", 28.6820, 115.8579),
    _p("山东省", "山东", "Shandong", "华东", "济南", 36.6512, 117.1201),
    _p("河南省", "河南", "Henan", "华中", "郑州", 34.7466, 113.6254),
    _p("湖北省", "湖北", "Hubei", "华中", "武汉", 30.5928, 114.3055),
    _p("湖南省", "湖南", "Hunan", "华中", "长沙", 28.2282, 112.9388),
    _p("广东省", "广东", "Guangdong", "华南", "广州", 23.1291, 113.2644),
    _p("广西壮族自治区", "广西", "Guangxi", "华南", "南宁", 22.8170, 108.3665),
    _p("海南省", "海南", "Hainan", "华南", "海口", 20.0444, 110.1999),
    _p("重庆市", "重庆", "Chongqing", "西南", "重庆", 29.5630, 106.5516),
    _p("四川省", "四川", "Sichuan", "西南", "成都", 30.5728, 104.0668),
    _p("贵州省", "贵州", "Guizhou", "西南", "贵阳", 26.6470, 106.6302),
    _p("云南省", "云南", "Yunnan", "西南", "昆明", 24.8801, 102.8329),
    _p("西藏自治区", "西藏", "Tibet", "西南", "拉萨", 29.6520, 91.1721, remote=True),
    _p("陕西省", "陕西", "Shaanxi", "西北", "西安", 34.3416, 108.9398),
    _p("甘肃省", "甘肃", "Gansu", "西北", "兰州", 36.0611, 103.8343, remote=True),
    _p("青海省", "青海", "Qinghai", "西北", "西宁", 36.6171, 101.7782, remote=True),
    _p("宁夏回族自治区", "宁夏", "Ningxia", "西北", "银川", 38.4872, 106.2309, remote=True),
    _p("新疆维吾尔自治区", "新疆", "Xinjiang", "西北", "乌鲁木齐", 43.8256, 87.6168, remote=True),
    _p("台湾省", "台湾", "Taiwan", "港澳台", "台北", 25.0330, 121.5654),
    _p("香港特别行政区", "香港", "Hong Kong", "港澳台", "香港", 22.3193, 114.1694),
    _p("澳门特别行政区", "澳门", "Macau", "港澳台", "澳门", 22.1987, 113.5439),
)

# Tier-1 cities (一线城市), short form. Shenzhen is the one that is not a provincial-level region.
TIER1_CITIES: frozenset[str] = frozenset({"北京", "上海", "广州", "深圳"})

_BY_KEY: dict[str, Province] = {}
for _prov in PROVINCES:
    for _key in (_prov.name, _prov.short, _prov.en.lower(), _prov.en.lower().replace(" ", "")):
        _BY_KEY[_key] = _prov
# Buyers often call an autonomous region a province ("广西省") or clip it ("内蒙").
for _prov in PROVINCES:
    if _prov.name.endswith("自治区"):
        _BY_KEY.setdefault(_prov.short + "省", _prov)
        _BY_KEY.setdefault(_prov.short + "自治区", _prov)
_BY_KEY["内蒙"] = _BY_KEY["内蒙古"]


def province(name: str) -> Province | None:
    """The province a buyer means by `name` ("广东省", "广东", "Guangdong"), or None when unknown."""
    key = name.strip()
    return _BY_KEY.get(key) or _BY_KEY.get(key.lower()) or _BY_KEY.get(key.lower().replace(" ", ""))


def is_municipality(province_name: str) -> bool:
    """A provincial-level region that is one city: Beijing, Tianjin, Shanghai, Chongqing, Hong Kong, Macau."""
    prov = province(province_name)
    return prov is not None and prov.short == prov.capital


# --- city names ---------------------------------------------------------------------------------------


def _words(text: str) -> tuple[str, ...]:
    """Names written as one space-separated string, the way the division lists print them."""
    return tuple(text.split())


# Autonomous prefectures and counties are named place + peoples + 自治州/自治县 ("延边朝鲜族自治州"); the
# common short form is the place alone. Most peoples are written with 族; the last four are written without.
_PEOPLES = _words(
    "朝鲜族 土家族 苗族 藏族 羌族 彝族 布依族 侗族 哈尼族 壮族 傣族 白族 景颇族 傈僳族 回族 蒙古族 黎族 满族"
    " 瑶族 畲族 佤族 拉祜族 纳西族 仡佬族 仫佬族 毛南族 撒拉族 土族 水族 东乡族 保安族 裕固族 锡伯族"
    " 达斡尔族 鄂温克族 鄂伦春族 塔吉克族 普米族 怒族 独龙族 维吾尔 蒙古 哈萨克 柯尔克孜"
)
_AUTONOMOUS_SUFFIXES = ("自治州", "自治县", "自治旗")
# Longest first: "特别行政区" and "地区"/"林区"/"新区" must win over "区".
_ADMIN_SUFFIXES = ("特别行政区", "地区", "林区", "新区", "盟", "市", "区", "县")
# Everyday names that are not the short form plus a suffix: the Xinjiang prefectures called one syllable + 州.
CITY_ALIASES: dict[str, str] = {"博州": "博尔塔拉", "巴州": "巴音郭楞", "克州": "克孜勒苏"}


def _strip_peoples(place: str) -> str:
    stripped = True
    while stripped:
        stripped = False
        for people in _PEOPLES:
            if place.endswith(people) and len(place) - len(people) >= 2:
                place, stripped = place[: -len(people)], True
                break
    return place


def _autonomous_short(key: str) -> str | None:
    for suffix in _AUTONOMOUS_SUFFIXES:
        if key.endswith(suffix) and len(key) > len(suffix) + 1:
            return _strip_peoples(key[: -len(suffix)])
    return None


def _admin_short(key: str) -> str | None:
    for suffix in _ADMIN_SUFFIXES:
        if key.endswith(suffix) and len(key) > len(suffix) + 1:
            return key[: -len(suffix)]
    return None


def city_short(name: str) -> str:
    """A city name without its administrative suffix, the form `CITIES` holds.

    "广州市" → "广州", "大兴安岭地区" → "大兴安岭", "兴安盟" → "兴安", "延边朝鲜族自治州" / "延边州" → "延边",
    "朝阳区" → "朝阳" (a municipality's district). Two-character names keep their suffix ("忠县", "东区").
    """
    key = name.strip()
    if key in CITY_ALIASES:
        return CITY_ALIASES[key]
    short = _autonomous_short(key) or _admin_short(key)
    if short is not None:
        return short
    if key.endswith("州") and key[:-1] in _AUTONOMOUS_PREFECTURES:
        return key[:-1]
    return key


# Prefecture-level divisions (地级市, 地区, 自治州, 盟), official full names; Taiwan's cities and counties.
_PREFECTURES: dict[str, str] = {
    "河北省": "石家庄市 唐山市 秦皇岛市 邯郸市 邢台市 保定市 张家口市 承德市 沧州市 廊坊市 衡水市",
    "山西省": "太原市 大同市 阳泉市 长治市 晋城市 朔州市 晋中市 运城市 忻州市 临汾市 吕梁市",
    "内蒙古自治区": "呼和浩特市 包头市 乌海市 赤峰市 通辽市 鄂尔多斯市 呼伦贝尔市 巴彦淖尔市 乌兰察布市"
    " 兴安盟 锡林郭勒盟 阿拉善盟",
    "辽宁省": "沈阳市 大连市 鞍山市 抚顺市 本溪市 丹东市 锦州市 营口市 阜新市 辽阳市 盘锦市 铁岭市 朝阳市"
    " 葫芦岛市",
    "吉林省": "长春市 吉林市 四平市 辽源市 通化市 白山市 松原市 白城市 延边朝鲜族自治州",
    "黑龙江省": "哈尔滨市 齐齐哈尔市 鸡西市 鹤岗市 双鸭山市 大庆市 伊春市 佳木斯市 七台河市 牡丹江市 黑河市"
    " 绥化市 大兴安岭地区",
    "江苏省": "南京市 无锡市 徐州市 常州市 苏州市 南通市 连云港市 淮安市 盐城市 扬州市 镇江市 泰州市 宿迁市",
    "浙江省": "杭州市 宁波市 温州市 嘉兴市 湖州市 绍兴市 金华市 衢州市 舟山市 台州市 丽水市",
    "安徽省": "合肥市 芜湖市 蚌埠市 淮南市 马鞍山市 淮北市 铜陵市 安庆市 黄山市 滁州市 阜阳市 宿州市 六安市"
    " 亳州市 池州市 宣城市",
    "福建省": "福州市 厦门市 莆田市 三明市 泉州市 漳州市 南平市 龙岩市 宁德市",
    "江西省": "南昌市 景德镇市 萍乡市 九江市 新余市 鹰潭市 赣州市 吉安市 宜春市 抚州市 上饶市",
    "山东省": "济南市 青岛市 淄博市 枣庄市 东营市 烟台市 潍坊市 济宁市 泰安市 威海市 日照市 临沂市 德州市"
    " 聊城市 滨州市 菏泽市",
    "河南省": "郑州市 开封市 洛阳市 平顶山市 安阳市 鹤壁市 新乡市 焦作市 濮阳市 许昌市 漯河市 三门峡市 南阳市"
    " 商丘市 信阳市 周口市 驻马店市",
    "湖北省": "武汉市 黄石市 十堰市 宜昌市 襄阳市 鄂州市 荆门市 孝感市 荆州市 黄冈市 咸宁市 随州市"
    " 恩施土家族苗族自治州",
    "湖南省": "长沙市 株洲市 湘潭市 衡阳市 邵阳市 岳阳市 常德市 张家界市 益阳市 郴州市 永州市 怀化市 娄底市"
    " 湘西土家族苗族自治州",
    "广东省": "广州市 韶关市 深圳市 珠海市 汕头市 佛山市 江门市 湛江市 茂名市 肇庆市 惠州市 梅州市 汕尾市"
    " 河源市 阳江市 清远市 东莞市 中山市 潮州市 揭阳市 云浮市",
    "广西壮族自治区": "南宁市 柳州市 桂林市 梧州市 北海市 防城港市 钦州市 贵港市 玉林市 百色市 贺州市 河池市"
    " 来宾市 崇左市",
    "海南省": "海口市 三亚市 三沙市 儋州市",
    "四川省": "成都市 自贡市 攀枝花市 泸州市 德阳市 绵阳市 广元市 遂宁市 内江市 乐山市 南充市 眉山市 宜宾市"
    " 广安市 达州市 雅安市 巴中市 资阳市 阿坝藏族羌族自治州 甘孜藏族自治州 凉山彝族自治州",
    "贵州省": "贵阳市 六盘水市 遵义市 安顺市 毕节市 铜仁市 黔西南布依族苗族自治州 黔东南苗族侗族自治州"
    " 黔南布依族苗族自治州",
    "云南省": "昆明市 曲靖市 玉溪市 保山市 昭通市 丽江市 普洱市 临沧市 楚雄彝族自治州 红河哈尼族彝族自治州"
    " 文山壮族苗族自治州 西双版纳傣族自治州 大理白族自治州 德宏傣族景颇族自治州 怒江傈僳族自治州"
    " 迪庆藏族自治州",
    "西藏自治区": "拉萨市 日喀则市 昌都市 林芝市 山南市 那曲市 阿里地区",
    "陕西省": "西安市 铜川市 宝鸡市 咸阳市 渭南市 延安市 汉中市 榆林市 安康市 商洛市",
    "甘肃省": "兰州市 嘉峪关市 金昌市 白银市 天水市 武威市 张掖市 平凉市 酒泉市 庆阳市 定西市 陇南市"
    " 临夏回族自治州 甘南藏族自治州",
    "青海省": "西宁市 海东市 海北藏族自治州 黄南藏族自治州 海南藏族自治州 果洛藏族自治州 玉树藏族自治州"
    " 海西蒙古族藏族自治州",
    "宁夏回族自治区": "银川市 石嘴山市 吴忠市 固原市 中卫市",
    "新疆维吾尔自治区": "乌鲁木齐市 克拉玛依市 吐鲁番市 哈密市 昌吉回族自治州 博尔塔拉蒙古自治州"
    " 巴音郭楞蒙古自治州 阿克苏地区 克孜勒苏柯尔克孜自治州 喀什地区 和田地区 伊犁哈萨克自治州 塔城地区"
    " 阿勒泰地区",
    "台湾省": "台北市 新北市 桃园市 台中市 台南市 高雄市 基隆市 新竹市 嘉义市 新竹县 苗栗县 彰化县 南投县"
    " 云林县 嘉义县 屏东县 宜兰县 花莲县 台东县 澎湖县 金门县 连江县",
}

# County-level cities and counties a province administers directly (省直辖): buyers write them as the city.
_PROVINCE_ADMINISTERED: dict[str, str] = {
    "河北省": "辛集市 定州市",
    "河南省": "济源市",
    "湖北省": "仙桃市 潜江市 天门市 神农架林区",
    "海南省": "五指山市 琼海市 文昌市 万宁市 东方市 定安县 屯昌县 澄迈县 临高县 白沙黎族自治县 昌江黎族自治县"
    " 乐东黎族自治县 陵水黎族自治县 保亭黎族苗族自治县 琼中黎族苗族自治县",
    "新疆维吾尔自治区": "石河子市 阿拉尔市 图木舒克市 五家渠市 北屯市 铁门关市 双河市 可克达拉市 昆玉市"
    " 胡杨河市 新星市 白杨市",
}

# Districts of the municipalities and SARs: what buyers there write in the city field when they write one.
_DISTRICTS: dict[str, str] = {
    "北京市": "东城区 西城区 朝阳区 丰台区 石景山区 海淀区 门头沟区 房山区 通州区 顺义区 昌平区 大兴区 怀柔区"
    " 平谷区 密云区 延庆区",
    "天津市": "和平区 河东区 河西区 南开区 河北区 红桥区 东丽区 西青区 津南区 北辰区 武清区 宝坻区 滨海新区"
    " 宁河区 静海区 蓟州区",
    "上海市": "黄浦区 徐汇区 长宁区 静安区 普陀区 虹口区 杨浦区 闵行区 宝山区 嘉定区 浦东新区 金山区 松江区"
    " 青浦区 奉贤区 崇明区",
    "重庆市": "万州区 涪陵区 渝中区 大渡口区 江北区 沙坪坝区 九龙坡区 南岸区 北碚区 綦江区 大足区 渝北区"
    " 巴南区 黔江区 长寿区 江津区 合川区 永川区 南川区 璧山区 铜梁区 潼南区 荣昌区 开州区 梁平区 武隆区"
    " 城口县 丰都县 垫江县 忠县 云阳县 奉节县 巫山县 巫溪县 石柱土家族自治县 秀山土家族苗族自治县"
    " 酉阳土家族苗族自治县 彭水苗族土家族自治县",
    "香港特别行政区": "中西区 湾仔区 东区 南区 油尖旺区 深水埗区 九龙城区 黄大仙区 观塘区 荃湾区 屯门区"
    " 元朗区 北区 大埔区 西贡区 沙田区 葵青区 离岛区 香港岛 九龙 新界",
    "澳门特别行政区": "澳门半岛 氹仔 路环 路氹城",
}

# Address pickers built on the national division codes (GB/T 2260) put "市辖区" (and "县" for Chongqing's
# counties) where a municipality's city goes.
_MUNICIPAL_PLACEHOLDERS: dict[str, frozenset[str]] = {
    "北京市": frozenset({"市辖区"}),
    "天津市": frozenset({"市辖区"}),
    "上海市": frozenset({"市辖区"}),
    "重庆市": frozenset({"市辖区", "县"}),
}

_AUTONOMOUS_PREFECTURES: frozenset[str] = frozenset(
    city_short(full) for names in _PREFECTURES.values() for full in names.split() if full.endswith("自治州")
)


def _official_names(prov: Province) -> list[str]:
    """Every official city (or district) name of a province, the province's own first for a municipality."""
    own = [prov.name] if prov.short == prov.capital else []
    sources = (_PREFECTURES, _PROVINCE_ADMINISTERED, _DISTRICTS)
    return own + [full for source in sources for full in source.get(prov.name, "").split()]


# (province full name, city short name) → official full name; the first official name of a short form wins
# (Taiwan's 新竹市 / 新竹县 share one).
_OFFICIAL: dict[tuple[str, str], str] = {}
for _prov in PROVINCES:
    for _full in _official_names(_prov):
        _OFFICIAL.setdefault((_prov.name, city_short(_full)), _full)

# Province full name → every city short name: prefecture-level divisions and province-administered cities;
# for a municipality or SAR, its own name and its districts.
CITIES: dict[str, tuple[str, ...]] = {
    _prov.name: tuple(dict.fromkeys(city_short(full) for full in _official_names(_prov)))
    for _prov in PROVINCES
}

# City short name → province full name. Districts of municipalities are kept apart in _DISTRICT_TO_PROVINCE:
# 北京's 朝阳区 and 辽宁's 朝阳市 share a short name, and a bare "朝阳" is the prefecture-level city.
_CITY_TO_PROVINCE: dict[str, str] = {}
_DISTRICT_TO_PROVINCE: dict[str, str] = {}
for _prov in PROVINCES:
    for _full in _official_names(_prov):
        _table = (
            _DISTRICT_TO_PROVINCE if _prov.name in _DISTRICTS and _full != _prov.name else _CITY_TO_PROVINCE
        )
        _table.setdefault(city_short(_full), _prov.name)


def _written_as_district(city: str) -> bool:
    key = city.strip()
    return key.endswith(("区", "县")) and not key.endswith(("地区", "林区", "自治县"))


def city_in_province(province_name: str, city: str) -> bool | None:
    """Whether `city` lies in `province_name`; None when the province is unknown.

    A municipality or SAR accepts its own name and its districts ("北京市" / "朝阳区"), and "市辖区" as the
    national division codes write it.
    """
    prov = province(province_name)
    if prov is None:
        return None
    return canonical_city(prov.name, city) is not None


def canonical_city(province_name: str, city: str) -> str | None:
    """The official full name of `city` inside `province_name`; None when the province is unknown or the city
    is not in it. "广州" → "广州市", "延边州" → "延边朝鲜族自治州", "朝阳" in 北京 → "朝阳区",
    "市辖区" in 北京 → "北京市"."""
    prov = province(province_name)
    if prov is None:
        return None
    written = city.strip()
    if written in _MUNICIPAL_PLACEHOLDERS.get(prov.name, frozenset()):
        return prov.name
    official = _OFFICIAL.get((prov.name, city_short(written)))
    # "朝阳区" names a district; in 辽宁 it is not the prefecture-level city 朝阳市.
    if official is None or (_written_as_district(written) and not _written_as_district(official)):
        return None
    return official


def municipal_district(province_name: str, city: str) -> str | None:
    """The official district name when a buyer in a municipality or SAR wrote a district in the city field
    ("上海" / "浦东" → "浦东新区"); None when `city` is the municipality itself or anything else."""
    if not is_municipality(province_name):
        return None
    official = canonical_city(province_name, city)
    prov = province(province_name)
    return None if official is None or prov is None or official == prov.name else official


def province_of_city(city: str) -> Province | None:
    """The province a city lies in, None when unknown: "深圳" → 广东省, "吉林市" → 吉林省, "朝阳区" → 北京市,
    "朝阳" → 辽宁省. A bare short name means the prefecture-level city; a name written with 区/县 that names a
    municipal district means the municipality; a province's own name is not read as a district ("河北")."""
    short = city_short(city)
    district = _DISTRICT_TO_PROVINCE.get(short)
    bare_district = short not in _CITY_TO_PROVINCE and province(short) is None
    if district is not None and (_written_as_district(city) or bare_district):
        return province(district)
    name = _CITY_TO_PROVINCE.get(short)
    return province(name) if name is not None else None


# --- coordinates --------------------------------------------------------------------------------------

# Sub-provincial cities, Shenzhen and the other large cities (city centre, WGS84); the provincial capitals
# come from PROVINCES.
_CITY_COORDINATES: dict[str, tuple[float, float]] = {
    "深圳": (22.5431, 114.0579),
    "大连": (38.9140, 121.6147),
    "青岛": (36.0671, 120.3826),
    "宁波": (29.8683, 121.5440),
    "厦门": (24.4798, 118.0894),
    "苏州": (31.2989, 120.5853),
    "无锡": (31.4912, 120.3119),
    "常州": (31.8106, 119.9741),
    "南通": (31.9802, 120.8943),
    "徐州": (34.2044, 117.2858),
    "扬州": (32.3942, 119.4129),
    "盐城": (33.3476, 120.1633),
    "镇江": (32.1878, 119.4250),
    "泰州": (32.4555, 119.9230),
    "连云港": (34.5967, 119.2216),
    "淮安": (33.5518, 119.1130),
    "宿迁": (33.9630, 118.2752),
    "佛山": (23.0215, 113.1214),
    "东莞": (23.0207, 113.7518),
    "珠海": (22.2710, 113.5767),
    "惠州": (23.1115, 114.4162),
    "中山": (22.5176, 113.3926),
    "汕头": (23.3541, 116.6819),
    "湛江": (21.2707, 110.3594),
    "江门": (22.5787, 113.0819),
    "肇庆": (23.0472, 112.4651),
    "茂名": (21.6630, 110.9254),
    "揭阳": (23.5497, 116.3728),
    "温州": (27.9939, 120.6994),
    "金华": (29.0790, 119.6474),
    "嘉兴": (30.7469, 120.7555),
    "绍兴": (30.0303, 120.5800),
    "台州": (28.6564, 121.4208),
    "湖州": (30.8940, 120.0868),
    "舟山": (29.9853, 122.2072),
    "衢州": (28.9359, 118.8742),
    "丽水": (28.4517, 119.9229),
    "泉州": (24.8741, 118.6757),
    "漳州": (24.5130, 117.6471),
    "莆田": (25.4540, 119.0077),
    "龙岩": (25.0750, 117.0173),
    "宁德": (26.6657, 119.5479),
    "南平": (26.6418, 118.1777),
    "三明": (26.2638, 117.6390),
    "烟台": (37.4638, 121.4479),
    "潍坊": (36.7069, 119.1618),
    "临沂": (35.1041, 118.3564),
    "淄博": (36.8131, 118.0548),
    "济宁": (35.4148, 116.5871),
    "威海": (37.5128, 122.1201),
    "东营": (37.4341, 118.6748),
    "日照": (35.4164, 119.5269),
    "泰安": (36.2000, 117.0876),
    "德州": (37.4355, 116.3575),
    "聊城": (36.4570, 115.9855),
    "菏泽": (35.2337, 115.4806),
    "枣庄": (34.8108, 117.3238),
    "滨州": (37.3835, 117.9708),
    "唐山": (39.6305, 118.1802),
    "保定": (38.8739, 115.4646),
    "邯郸": (36.6255, 114.5391),
    "廊坊": (39.5380, 116.6838),
    "沧州": (38.3037, 116.8388),
    "邢台": (37.0706, 114.5044),
    "张家口": (40.8244, 114.8875),
    "承德": (40.9510, 117.9634),
    "秦皇岛": (39.9354, 119.6005),
    "洛阳": (34.6197, 112.4540),
    "南阳": (32.9908, 112.5283),
    "新乡": (35.3030, 113.9268),
    "商丘": (34.4144, 115.6564),
    "开封": (34.7970, 114.3076),
    "安阳": (36.0976, 114.3924),
    "襄阳": (32.0090, 112.1224),
    "宜昌": (30.6919, 111.2865),
    "十堰": (32.6293, 110.7980),
    "荆州": (30.3348, 112.2397),
    "黄冈": (30.4537, 114.8724),
    "恩施": (30.2720, 109.4880),
    "岳阳": (29.3572, 113.1289),
    "株洲": (27.8274, 113.1340),
    "湘潭": (27.8297, 112.9441),
    "衡阳": (26.8938, 112.5720),
    "常德": (29.0316, 111.6985),
    "邵阳": (27.2389, 111.4678),
    "郴州": (25.7706, 113.0148),
    "怀化": (27.5501, 109.9978),
    "赣州": (25.8311, 114.9350),
    "九江": (29.7050, 116.0019),
    "上饶": (28.4546, 117.9434),
    "景德镇": (29.2689, 117.1784),
    "芜湖": (31.3525, 118.4331),
    "阜阳": (32.8900, 115.8142),
    "蚌埠": (32.9163, 117.3889),
    "安庆": (30.5088, 117.0437),
    "柳州": (24.3264, 109.4155),
    "桂林": (25.2736, 110.2900),
    "北海": (21.4733, 109.1193),
    "玉林": (22.6545, 110.1810),
    "绵阳": (31.4675, 104.6791),
    "南充": (30.8373, 106.1107),
    "宜宾": (28.7513, 104.6417),
    "泸州": (28.8718, 105.4423),
    "德阳": (31.1270, 104.3979),
    "乐山": (29.5521, 103.7658),
    "达州": (31.2096, 107.4680),
    "凉山": (27.8816, 102.2644),
    "遵义": (27.7254, 106.9272),
    "曲靖": (25.4900, 103.7962),
    "大理": (25.6065, 100.2676),
    "丽江": (26.8721, 100.2257),
    "西双版纳": (22.0017, 100.7979),
    "大同": (40.0768, 113.3001),
    "包头": (40.6574, 109.8403),
    "鄂尔多斯": (39.6086, 109.7813),
    "赤峰": (42.2578, 118.8869),
    "通辽": (43.6526, 122.2434),
    "呼伦贝尔": (49.2116, 119.7658),
    "吉林": (43.8378, 126.5496),
    "延边": (42.9048, 129.5089),
    "大庆": (46.5895, 125.1036),
    "齐齐哈尔": (47.3543, 123.9182),
    "牡丹江": (44.5513, 129.6332),
    "佳木斯": (46.7995, 130.3187),
    "鞍山": (41.1087, 122.9946),
    "锦州": (41.0951, 121.1269),
    "丹东": (40.1290, 124.3545),
    "营口": (40.6670, 122.2352),
    "榆林": (38.2852, 109.7346),
    "宝鸡": (34.3619, 107.2373),
    "咸阳": (34.3296, 108.7093),
    "汉中": (33.0676, 107.0238),
    "天水": (34.5809, 105.7249),
    "酒泉": (39.7327, 98.4945),
    "嘉峪关": (39.7731, 98.2892),
    "海东": (36.5029, 102.1042),
    "三亚": (18.2528, 109.5119),
    "儋州": (19.5209, 109.5808),
    "日喀则": (29.2670, 88.8807),
    "林芝": (29.6490, 94.3616),
    "喀什": (39.4704, 75.9898),
    "克拉玛依": (45.5799, 84.8892),
    "哈密": (42.8189, 93.5150),
    "伊犁": (43.9169, 81.3241),
    "石河子": (44.3058, 86.0803),
}

# City short name → coordinates: every provincial capital, then the cities above.
CITY_POINTS: dict[str, Point] = {prov.capital: prov.capital_point for prov in PROVINCES} | {
    name: Point(lat, lon) for name, (lat, lon) in _CITY_COORDINATES.items()
}


def distance_km(a: Point, b: Point) -> float:
    """Great-circle distance (haversine, mean Earth radius 6371 km)."""
    lat1, lon1, lat2, lon2 = map(math.radians, (a.lat, a.lon, b.lat, b.lon))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(h))


def is_remote(province_name: str) -> bool:
    """Remote regions (Xinjiang, Tibet, Qinghai, Gansu, Ningxia, Inner Mongolia) go by the postal carrier."""
    prov = province(province_name)
    return prov is not None and prov.remote


def is_tier1(province_name: str, city: str | None = None) -> bool:
    """A tier-1 destination: the municipalities Beijing and Shanghai, or the cities Guangzhou and Shenzhen."""
    prov = province(province_name)
    if prov is None:
        return False
    if prov.short in TIER1_CITIES:
        return True
    return city is not None and city_short(city) in TIER1_CITIES and city_in_province(prov.name, city) is True


def same_city(province_a: str, city_a: str | None, province_b: str, city_b: str | None) -> bool:
    """Two places in one city (for same-city couriers). Municipalities count as one city."""
    pa, pb = province(province_a), province(province_b)
    if pa is None or pb is None or pa != pb:
        return False
    ca = city_short(city_a) if city_a else pa.capital
    cb = city_short(city_b) if city_b else pb.capital
    if pa.short == pa.capital:  # municipality / SAR: the province is the city
        return True
    return ca == cb


def locate(province_name: str, city: str | None = None) -> Point | None:
    """Coordinates of a destination: the city when its point is known and it lies in the province, else the
    province capital. A municipal district is located at its municipality (北京 朝阳区 is not 辽宁 朝阳)."""
    prov = province(province_name)
    if prov is None:
        return None
    if city:
        short = city_short(city)
        if _CITY_TO_PROVINCE.get(short) == prov.name and short in CITY_POINTS:
            return CITY_POINTS[short]
    return prov.capital_point
