"""PII masking for anything that may be seen by people other than the wish's own parties.

What is masked (see README, "Privacy"): mobile and landline numbers, ID numbers (18 and 15
digits), bank card numbers, e-mail addresses, WeChat and QQ ids, licence plates, room numbers of
a home (the building and unit stay: "3栋电梯坏了" is about a place, not a household), the
resident's own Telegram name and names the text gives (我是刘小明, 签名：刘小明, 刘小明反映…).
Names with only a surname and a form of address (王女士, 张大爷) stay: the mask would keep just
that. Public service numbers (12345, 110, 95598, 400…) are short or not personal, and stay.

Numbers are read the way residents type them: with spaces, dashes (also the IME's — and －),
dots (also 。), zero-width characters between the digits, full-width or Chinese digits (幺三八,
壹叁捌). Masks keep the first and last digits by the usual Chinese convention (138****5678) and
always leave at least three `*`, which the scanner never reads as part of a number: masking a
masked text changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

# Residents type on Chinese keyboards: full-width digits, letters, ＋, －, （）, ＠ and the
# ideographic space are read as their ASCII forms. The mapping is one character to one, so a
# match found in the folded text has the same span in the original, and the rest of the text
# is left as it was.
_FOLD = {0xFF01 + i: 0x21 + i for i in range(0x5E)} | {0x3000: 0x20}  # ！…～ → !…~

# Digits as residents write them in words, read one character per digit (幺 is how 1 is said
# in phone numbers, 两 how 2 is said; 拐 and 洞 are the radio forms of 7 and 0).
_CHINESE_DIGITS = {
    "0": "〇零○洞",
    "1": "一壹幺",
    "2": "二贰貳两",
    "3": "三叁參",
    "4": "四肆",
    "5": "五伍",
    "6": "六陆陸",
    "7": "七柒拐",
    "8": "八捌",
    "9": "九玖",
}
_IS_CHINESE_DIGIT = frozenset("".join(_CHINESE_DIGITS.values()))
# What may stand between the digits of one number: spaces of every width, dashes (the IME gives
# — for "-"), dots (and 。, the IME's "."), the middle dot, and zero-width characters.
_SEPARATORS = (
    " \t\u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f"
    "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63"
    ".\u00b7\u30fb\u3002\uff61"
    "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e"
)
# The digit view: folded, Chinese digits as ASCII digits, every separator a space. One
# character to one again, so spans carry over to the original text.
_DIGIT_VIEW = (
    {k: (" " if chr(v) in _SEPARATORS else v) for k, v in _FOLD.items()}  # － and ． too
    | {ord(c): d for d, chars in _CHINESE_DIGITS.items() for c in chars}
    | {ord(c): " " for c in _SEPARATORS}
)
# A run: digits with at most three separator characters (or an area code's brackets) between
# them; an ID number's final X belongs to it when nothing alphanumeric follows.
_DIGIT_CHARS = "0-9０-９" + "".join(_CHINESE_DIGITS.values())
_SEPARATOR_CHARS = re.escape(_SEPARATORS + "\u3000－．（）()")
_DIGITISH = re.compile(rf"[{_DIGIT_CHARS}](?:[{_SEPARATOR_CHARS}]{{0,3}}[{_DIGIT_CHARS}]){{6}}")
_RUN = re.compile(r"\d+(?:[ ()]{1,3}\d+)*(?:[Xx](?![0-9A-Za-z]))?")
_GROUP = re.compile(r"\d+[Xx]?")
# Letters right before the digits mean a code (HM-2026-0001, KFR-35GW), unless they say what
# the number is (tel13812345678).
_NUMBER_WORDS = frozenset({"tel", "phone", "mobile", "mob", "cell", "call", "no", "id"})
# Numbers are 8-digit local landlines only when nothing says they are an amount or a date.
_CURRENCY = frozenset("¥￥$€£")
_UNITS = frozenset(
    "元块角毛万亿千百十平米㎡个人户次年月日号楼层岁%‰度斤克吨升件台辆期届名位条页份天"
)
# A phone word shortly before a 7-digit local number (small cities) or a Chinese-digit one.
_PHONE_WORD = re.compile(
    r"(?:电话|手机|座机|固话|号码|联系|打|拨|致电|回电|来电|tel|phone)\D{0,4}$", re.I
)

_MOBILE = re.compile(r"(?:0086|86)?(1[3-9]\d{9})")
_ID_18 = re.compile(r"[1-9]\d{5}(?:19|20)\d\d(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx]")
_ID_15 = re.compile(r"[1-9]\d{5}\d\d(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}")
_LANDLINE = re.compile(r"0(?:10|2\d)\d{8}|0[3-9]\d\d\d{7,8}")
_WRITTEN_DATE = re.compile(
    r"(?<!\d)(?:19|20)\d\d {1,3}(?:0?[1-9]|1[0-2]) {1,3}(?:0?[1-9]|[12]\d|3[01])(?!\d)"
)
_DATE_8 = re.compile(r"(?:19|20)\d\d(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])")
_YEAR = re.compile(r"(?:19|20)\d\d")

# E-mail: "@" in any width, or written out to fool spam robots: （at）, [at], " at ", 艾特, #;
# the dots of the domain may be the IME's 。. Written-out forms need a top-level domain.
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+\-@*])([A-Za-z0-9][A-Za-z0-9._%+-]*?)"
    r"(\s*@\s*|\s*[(\[]\s*at\s*[)\]]\s*|\s+at\s+|\s*艾特\s*|#)"
    r"([A-Za-z0-9-]+(?:\s?[.。｡]\s?[A-Za-z0-9-]+)*)",
    re.I,
)
_DOMAIN_DOT = re.compile(r"\s?[.。｡]\s?")
_TLD = re.compile(r"[.。｡]\s?[A-Za-z]{2,}$")
# WeChat ids: 6-20 characters, a letter first; after the words people use for WeChat.
_WECHAT = re.compile(
    r"(?:微信|薇信|威信|[Vv]信|(?<![A-Za-z])(?:vx|wx|weixin|wechat)(?![A-Za-z]))"
    r"(?:号|ID|id)?\s*(?:[:：]\s*)?(?:是\s*|为\s*)?"
    r"([A-Za-z][-_A-Za-z0-9]{4,19})(?![-_A-Za-z0-9])",
    re.I,
)
_QQ = re.compile(
    r"(?:(?<![A-Za-z])qq(?![A-Za-z])|扣扣|企鹅号?)(?:号码?)?\s*(?:[:：]\s*)?(?:是\s*|为\s*)?"
    r"([1-9]\d{4,10})(?!\d)",
    re.I,
)
_QQ_HINT = re.compile(r"[qQ扣企]")
_DASH = re.compile(r"-")
# Licence plates: province, city letter, then 5 characters (6 for new-energy cars), at least
# two of them digits; I and O are not used on plates.
_PLATE = re.compile(
    r"([京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼])\s?"
    r"([A-HJ-NP-Za-hj-np-z])[\s·.\-]?([A-HJ-NP-Za-hj-np-z0-9]{5,6})(?![A-Za-z0-9])"
)
# Room numbers: after a building (3栋, 5号楼, 12幢, 18楼, 3#) and/or unit (2单元, 3门), or
# followed by 室/房, or building-unit-room (3-2-502). The building and unit stay.
_CN_SMALL = "一二三四五六七八九十"
_ROOM_AFTER = re.compile(
    rf"((?:(?:\d{{1,3}}|[{_CN_SMALL}]{{1,3}})\s*(?:号楼|栋|幢|座|号院|楼|#楼?)\s*)"
    rf"(?:(?:\d{{1,2}}|[{_CN_SMALL}]{{1,2}})\s*(?:单元|号门|门)\s*)?"
    rf"|(?:\d{{1,2}}|[{_CN_SMALL}]{{1,2}})\s*(?:单元|号门)\s*)"
    r"-?(\d{3,4})(?![\d年元块万平米㎡个人次路号线])"
)
_ROOM_BEFORE = re.compile(r"(?<![\d\-.])(\d{3,4})(\s*(?:室|房)(?![间子东租价屋产贷车]))")
_ROOM_DASHED = re.compile(r"(?<![0-9A-Za-z\-./:])(\d{1,3}-\d{1,2}-)(\d{3,4})(?![0-9A-Za-z\-./:])")
_PUBLIC_ROOM = re.compile(
    "会议|活动室|办公|阅览室|图书|医务室|卫生室|诊室|服务中心|服务站|党群|居委会|村委会|"
    "物业中心|窗口|教室|大厅|接待室"
)
_ROOM_LIVED = re.compile(r"(住(?:在)?)(\d{3,4})(?![\d年元块万平米号楼路栋幢单层个])")

# Names written in the text: 我是刘小明, 我叫欧阳娜娜, 本人李四, 姓名：王芳, 联系人张伟.
_COMPOUND_SURNAMES = (
    "欧阳|司马|上官|诸葛|东方|皇甫|尉迟|公孙|慕容|长孙|宇文|司徒|夏侯|轩辕|令狐|钟离|"
    "澹台|南宫|独孤|端木|西门|万俟|闻人|呼延|申屠|太史|公羊|赫连|司空|百里|东郭|第五"
)
_SURNAMES = (  # common ones; those that mostly start words (明天, 路过, 成都) are left out
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶"
    "程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾"
    "毛郝龚邵万钱严覃武戴莫孔汤温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿兰焦俞"
    "左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂苗谷盛曲翁冉骆蓝游辛靳管柴蒙鲍华喻祁蒲房滕屈"
    "饶解牟艾尤阳穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂佟臧闵苟邬"
    "边卞姬仇栾隋刁沙荣巫寇桑郎甄丛仲虞敖巩佘池查麻苑迟邝"
)
_SURNAME = rf"(?:{_COMPOUND_SURNAMES}|[{_SURNAMES}])"
# A given name's first character is never one of these; its second is not one of these either,
# nor a word that usually follows a name (我是刘明反映…, 我叫王芳电话…).
_NOT_GIVEN = "的地得了是在住家们这那个位名从到和与及或也都就还很"
_NOT_SECOND = _NOT_GIVEN + "反来去要想说向给请今昨年月号楼室路街村区镇乡县市省电手微邮身联住"
# Surname + a form of address is not a name to hide: 王女士, 张大爷, 刘老师 (and 王某, 老刘).
_ADDRESS = (
    "女士|先生|小姐|阿姨|大爷|大妈|大娘|大姐|大哥|大叔|大伯|大婶|奶奶|爷爷|婆婆|姥姥|姥爷|"
    "师傅|老师|医生|大夫|护士|同志|同学|书记|主任|经理|律师|警官|代表|科长|处长|局长|所长|站长|"
    "总|工|老|某|叔|姨|伯|婶|嫂|哥|姐|妹|弟|爸|妈|家"
)
_STRONG_NAME = (
    rf"{_SURNAME}(?!{_ADDRESS})(?![{_NOT_GIVEN}])[\u4e00-\u9fff]"
    rf"(?:(?![{_NOT_SECOND}])[\u4e00-\u9fff])?"
)
# Where a name is only guessed from its place in the sentence (居民刘小明, 刘小明反映…), its given
# name must be made of characters that are common in given names and rare at the start of words,
# and the whole not a common word (房东, 安全, 高层).
_GIVEN_CHARS = (
    "伟芳娜秀敏静丽强磊军洋勇艳杰娟涛明超霞平刚桂英华玉兰萍红娥玲芬燕彩春菊凤洁梅琳素云莲"
    "真环雪荣爱妹香月莺媛瑞凡佳嘉琼勤珍贞莉娣璐娅琦晶妍茜秋珊莎锦黛青倩婷姣婉娴瑾颖露瑶怡"
    "婵雁蓓仪荷丹蓉眉君琴蕊薇菁梦岚婕馨瑗琰韵融艺咏卿聪澜纯毓悦昭冰爽琬茗羽希宁欣滢馥筠"
    "柔竹凝晓欢霄枫芸菲寒伊亚宜舒影荔妮宝贝程恒鸿桦骅剑娇纪宽灵玛媚琪晴容睿烁威韦雯苇萱"
    "彦宇雨忠宗曼紫逸贤蝶菡翠轩毅俊峰东文辉力永健世广志义兴良海山仁波贵福生龙元国胜学祥"
    "才发武新利清飞彬富顺信子昌成康星光天达安岩中茂进林有坚和彪博诚先敬震振壮会思群豪心"
    "邦承乐绍功松善厚庆民友裕河哲江浩亮政谦亨奇固之翰朗伯宏言若鸣朋斌梁栋维启克伦翔旭鹏"
    "泽晨辰士以建致树炎德行泰盛雄琛钧冠策腾楠榕风航弘涵梓铭宸昊然语桐曦彤萌淑金军卫秀兵"
    "丰虎豹鑫淼森焱磊晶垚鹤凯铁钢宏伟红霞丽娟小"
)
_COMMON_WORDS = (
    "房东 房主 房客 安全 安心 安静 安置 安保 安装 方才 方便 方面 方向 高兴 高层 高明 周边 周末 金额 "
    "金属 文明 文化 文件 马上 马路 江边 石头 何时 程序 任何 于是 余额 孙子 黄金 白天 夏天 华为 万一 "
    "钱财 林荫 龙头 康复 宁静 齐全 黎明 温馨 景区 车辆 车位 车库 车主 党员 司机 单元 单位 管理 "
    "宋体 包子 叶子 柳树 梅花 兰花 菊花 牛奶 毛病 关心 乔迁 戴帽 施工 华丽 雷雨 龙凤 严重 严格 "
    "尤其 易于 应该 向来 连续 连年 边上 左右 左边 祝福 包括 凌晨 毕业 季节 霍乱 谷雨 盛夏 曲线 "
    "苗木 蓝天 游泳 辛苦 管道 柴火 蒙受 华夏 祁连 屈指 艾草 古树 吉祥 简单 车流 项目 连忙 麦子 "
    "景色 宫廷 费用 冷清 米饭 宗旨 桂花 沙子 荣誉 桑树 甄别 池子 查明 麻烦 迟早 温和 文静"
)
_NOT_NAMES = frozenset(_COMMON_WORDS.split())
_WEAK_NAME = rf"{_SURNAME}(?!{_ADDRESS})[{_GIVEN_CHARS}]{{1,2}}"
_BOUNDARY_CHARS = frozenset('，。！？；、,.!?;:："“”’‘（）()[]【】《》—-~～…的')
_VERBS = (
    "反映|反应|投诉|举报|来电|求助|咨询|留言|致电|报修|来访|申请|建议|提出|表示|家住|住在|想问|"
    "询问|诉求|报告"
)
# What may come right after a name: punctuation, the end, or a word that follows a person.
_AFTER_NAME = rf"$|[\s，。！？；、,.!?;:：\"”’（）()\[\]【】《》—\-~～…]|的|家|说|称|问|住|在|电话|手机|{_VERBS}"
_FOLLOW = rf"(?={_AFTER_NAME})"
_ROLES = (
    "居民|住户|业主|村民|租户|市民|群众|老党员|党员|退休职工|退休教师|退休干部|志愿者|网格员|"
    "楼栋长|楼长|家属|老人|老兵|残疾人|低保户|环卫工|保洁员|快递员|外卖员|商户|店主|户主|承租人"
)
# Cues that a neighbour, a third party, is named next: 我邻居张建国, 隔壁李秀英, 对门的王芳.
_NEIGHBOURS = "邻居|隔壁|对门|楼上|楼下"
_LABELS = (
    "姓名|名字|联系人|署名|签名|落款|反映人|投诉人|举报人|报修人|申请人|来信人|留言人|求助人|"
    "来电人|当事人"
)
_INTRODUCED_NAME = re.compile(
    # 我是刘小明, 姓名：王芳, 签名：刘小明 (the original, trusted forms)
    rf"(?:我是|我叫|本人是?|(?:{_LABELS})[是为叫:：]?)\s*({_STRONG_NAME})"
)
_PLACED_NAME = re.compile(
    # 我是居民刘小明, 我是3号楼的住户马丽, 居民张秀英反映, 业主：林晓峰
    rf"(?:(?:我是|我叫|本人是?)(?:[^\s，。！？；,.!?;]{{0,12}}?的)?(?:{_ROLES})?"
    rf"|(?:{_ROLES})[:：]?)\s*({_WEAK_NAME}){_FOLLOW}"
    # 已联系刘小明, 请致电张伟13812345678
    rf"|(?:联系|致电|回访|告知|通知)({_WEAK_NAME})(?=\d|{_AFTER_NAME})"
    # a signature: ——赵志强
    rf"|(?:——|--|—|－－)\s*({_WEAK_NAME})\s*(?=$|[\s。！!.])"
)
# A neighbour named: 我邻居张建国天天…, 隔壁的李秀英, 楼上王建国, with a few words between the cue
# and the name (邻居家的张建国, 对门那个张建国, 隔壁那家的李秀英, 隔壁住的是张建国), and the names
# listed after it (邻居张建国、李秀英两家). The cue says a person follows, so any next word may:
# 邻居家的狗, 隔壁那家店, 对门那个超市 and 楼上漏水 name nobody, no surname follows.
_NEIGHBOUR_FILLER = "邻居|那家的|那家|那个|那位|家的|住的是|住着|住的|的"
_LIST_SEPARATOR = r"\s*[、和与及跟]\s*"
# a name in such a list: the shortest that a separator and a surname follow (王芳和陈丽华: 和 is
# also a given name's character, so the longest would be 王芳和), else the longest
_LIST_NAME = (
    rf"(?:{_SURNAME}(?!{_ADDRESS})[{_GIVEN_CHARS}]{{1,2}}?(?={_LIST_SEPARATOR}{_SURNAME})"
    rf"|{_WEAK_NAME})"
)
_NEIGHBOUR_NAME = re.compile(
    rf"(?:{_NEIGHBOURS})(?:{_NEIGHBOUR_FILLER})?\s*({_LIST_NAME})"
    rf"((?:{_LIST_SEPARATOR}{_LIST_NAME})*)"
)
_LISTED_AFTER = re.compile(rf"{_LIST_SEPARATOR}({_LIST_NAME})")
# 刘小明反映… (at the start of a sentence, or after 的: 8栋601的刘芳反映) and 刘小明敬上 are found
# from the word back to the name: looking for a name at every character was the slow part.
_VERB_OR_SIGN_OFF = re.compile(rf"({_VERBS})|敬上|谨上|拜上|敬启")
_WEAK_NAME_ONLY = re.compile(_WEAK_NAME)
# 周建国、李秀英等居民反映, 张秀英等3户业主: the names before 等 and a group of people
_LISTED = re.compile(
    r"等(?=\s*(?:\d+|[一二三四五六七八九十几多]+)?\s*[户位名个]?\s*"
    r"(?:居民|住户|业主|村民|群众|人|老人|家庭|户))"
)


def mask_name(name: str) -> str:
    """张三丰 → 张**, 欧阳娜娜 → 欧阳**; keep the surname so the post still reads naturally."""
    name = name.strip()
    if len(name) <= 1:
        return "*"
    keep = 2 if len(name) > 2 and name[:2] in _COMPOUND_SURNAMES.split("|") else 1
    return name[:keep] + "*" * (len(name) - keep)


def name_variants(display_name: str) -> list[str]:
    """The ways a person's name may appear in their own text.

    Telegram profiles hold a first and a last name; Chinese names are written surname first and
    without a space ("小明" + "刘" is written 刘小明), Western ones the other way round.
    """
    parts = display_name.split()
    variants = {
        display_name.strip(),
        "".join(parts),
        "".join(reversed(parts)),
        " ".join(reversed(parts)),
        *parts,
    }
    return sorted((v for v in variants if len(v) >= 2), key=len, reverse=True)


def wish_names(display_name: str, text: str) -> list[str]:
    """The names to mask in anything about one wish: the resident's Telegram name and the names
    its text gives, which a deputy's result may repeat (签名：王建国 … 已联系居民王建国)."""
    return [*name_variants(display_name), *introduced_names(text)]


def introduced_names(text: str) -> list[str]:
    """Names the text gives: 我是刘小明, 签名：刘小明, 居民刘小明, 刘小明反映… → ["刘小明"]."""
    found = [m.group(1) for m in _INTRODUCED_NAME.finditer(text)]
    placed = [next(g for g in m.groups() if g) for m in _PLACED_NAME.finditer(text)]
    for m in _NEIGHBOUR_NAME.finditer(text):
        placed += [m.group(1), *(n.group(1) for n in _LISTED_AFTER.finditer(m.group(2)))]
    for m in _VERB_OR_SIGN_OFF.finditer(text):
        placed += _names_before(text, m.start(), at_boundary=m.group(1) is not None)
    for m in _LISTED.finditer(text):
        placed += _names_before(text, m.start(), at_boundary=True)
    # 房东, 安全…: words, not names
    found += [n for n in placed if n not in _NOT_NAMES and n[:2] not in _NOT_NAMES]
    return list(dict.fromkeys(found))  # once each, in order


def _names_before(text: str, end: int, *, at_boundary: bool) -> list[str]:
    """The name that ends at `end` (at the start of a clause if `at_boundary`), and the names
    listed before it: 周建国、李秀英反映 → ["李秀英", "周建国"]."""
    names = []
    while True:
        for start in range(max(0, end - 4), end - 1):  # the longest name first
            before = text[start - 1] if start else ""
            boundary = not before or before in _BOUNDARY_CHARS or before.isspace()
            if (boundary or not at_boundary) and _WEAK_NAME_ONLY.fullmatch(text, start, end):
                names.append(text[start:end])
                break
        else:
            return names
        if before not in ("、", ",", "，"):
            return names
        end, at_boundary = start - 1, True


def _replace(text: str, spans: Iterable[tuple[int, int, str]]) -> str:
    """Replace non-overlapping (start, end, new) spans, given in order."""
    out: list[str] = []
    last = 0
    for start, end, new in spans:
        out.append(text[last:start])
        out.append(new)
        last = end
    out.append(text[last:])
    return "".join(out)


# -- numbers --------------------------------------------------------------------------------


def _stars(digits: str, head: int, tail: int) -> str:
    return digits[:head] + "*" * max(3, len(digits) - head - tail) + digits[len(digits) - tail :]


def _classify(
    digits: str,
    chunks: list[int],
    texts: tuple[str, str, str],
    start: int,
    end: int,
    landlines: bool,
) -> tuple[str, int] | None:
    """The mask for one candidate number and how far left it reaches, or None.

    `chunks`: the lengths of its parts as written (138 1234 5678 → [3, 4, 4]); `texts` the
    text as written, folded and in the digit view; start/end the candidate's span in them."""
    text, folded, view = texts
    n = len(digits)
    if "X" in digits.upper():
        m = _ID_18.fullmatch(digits)
        return (_stars(digits, 3, 4), start) if m else None
    if m := _MOBILE.fullmatch(digits):
        # "+86 138…": the country code and its plus sign go with the number
        reach = start - 1 if n > 11 and view[start - 1 : start] == "+" else start
        return _stars(m.group(1), 3, 4), reach
    if _ID_18.fullmatch(digits) or _ID_15.fullmatch(digits):
        return _stars(digits, 3, 4), start
    if (
        16 <= n <= 19
        and digits[0] in "3456789"
        and (len(chunks) == 1 or (all(c == 4 for c in chunks[:-1]) and chunks[-1] <= 4))
    ):
        return _stars(digits, 4, 4), start  # a bank card: the bank's prefix and the last four
    if not landlines:
        return None
    if _LANDLINE.fullmatch(digits):
        area = 3 if digits[1] in "12" else 4
        # "(0571)8888…": the bracket goes with the area code
        reach = start - 1 if view[start - 1 : start] == "(" else start
        return digits[:area] + "-" + _stars(digits[area:], 0, 4), reach
    if n in (7, 8) and digits[0] in "23456789" and not _DATE_8.fullmatch(digits):
        if (
            n == 8
            and len(chunks) == 2
            and all(_YEAR.fullmatch(y) for y in (digits[:4], digits[4:]))
        ):
            return None  # 2026—2027: two years
        before = view[max(0, start - 12) : start].rstrip()[-1:]
        after = view[end : end + 12].lstrip()[:1]
        if (before and before in _CURRENCY) or (after and after in _UNITS):
            return None  # an amount, a count
        if _PHONE_WORD.search(folded[max(0, start - 12) : start]):
            return _stars(digits, 0, 4), start
        written = text[start:end]
        if n == 8 and chunks in ([8], [4, 4]) and not any(c in _IS_CHINESE_DIGIT for c in written):
            return _stars(digits, 0, 4), start  # an 8-digit local landline
    return None


_LETTERS_BEFORE = re.compile(r"[A-Za-z]+[-_/#.]?$")


def _is_code_before(folded: str, i: int) -> bool:
    """Digits at `i` continue a code (HM-2026, KFR-35) or a mask (138****5678), unless the
    letters say what the number is (tel13812345678)."""
    if folded[i - 1 : i] == "*":
        return True
    word = _LETTERS_BEFORE.search(folded, max(0, i - 12), i)
    return word is not None and word.group().rstrip("-_/#.").lower() not in _NUMBER_WORDS


def _is_code_after(folded: str, j: int) -> bool:
    after = folded[j : j + 1]
    if after == "*":
        return True
    if after and after in "-_/.":
        after = folded[j + 1 : j + 2]
    return after.isascii() and after.isalpha()


def _number_spans(text: str, folded: str, landlines: bool) -> list[tuple[int, int, str]]:
    if not _DIGITISH.search(folded):
        return []  # nothing could be a number of 7 digits or more: skip the slow translation
    view = folded.translate(_DIGIT_VIEW)
    spans: list[tuple[int, int, str]] = []
    for run in _RUN.finditer(view):
        # Groups: what stands together as written; Chinese digits one each, since 一 also
        # starts words (13812345678一直打不通). `chunk` numbers the separator-delimited parts.
        groups: list[tuple[int, int, int]] = []  # (start, end, chunk)
        for chunk, part in enumerate(_GROUP.finditer(view, run.start(), run.end())):
            s = part.start()
            for i in range(part.start(), part.end()):
                if text[i] in _IS_CHINESE_DIGIT or (
                    i + 1 < part.end() and text[i + 1] in _IS_CHINESE_DIGIT
                ):
                    groups.append((s, i + 1, chunk))
                    s = i + 1
            if s < part.end():
                groups.append((s, part.end(), chunk))
        if sum(e - s for s, e, _ in groups) < 7:
            continue
        if _is_code_before(folded, groups[0][0]):
            groups = [g for g in groups if g[2] != groups[0][2]]
        if groups and _is_code_after(folded, groups[-1][1]):
            groups = [g for g in groups if g[2] != groups[-1][2]]
        # Dates written with separators (2026.03.05-2026.04.05) are no part of any number:
        # "03 05 2026 04 05" would otherwise read as a landline with area code 0305.
        in_date = [False] * len(groups)
        k = 0
        for date in _WRITTEN_DATE.finditer(view, run.start(), run.end()):
            while k < len(groups) and groups[k][0] < date.end():
                in_date[k] = groups[k][0] >= date.start()
                k += 1
        # From each group, the longest stretch of groups that reads as a number is masked, and
        # the search goes on after it; no number has more than 20 digits, so a stretch is
        # never longer than 20 groups, however long the run (1 2 3 4 … pasted 5 000 times).
        i = 0
        while i < len(groups):
            if in_date[i]:
                i += 1
                continue
            reach = i
            size = 0
            while (
                reach < len(groups)
                and not in_date[reach]
                and size + groups[reach][1] - groups[reach][0] <= 20
            ):
                size += groups[reach][1] - groups[reach][0]
                reach += 1
            next_i = i + 1
            for j in range(reach, i, -1):
                digits = "".join(view[s:e] for s, e, _ in groups[i:j])
                if len(digits) < 7:
                    break
                chunks: dict[int, int] = {}
                for s, e, c in groups[i:j]:
                    chunks[c] = chunks.get(c, 0) + e - s
                start, end = groups[i][0], groups[j - 1][1]
                found = _classify(
                    digits, list(chunks.values()), (text, folded, view), start, end, landlines
                )
                if found:
                    spans.append((found[1], end, found[0]))
                    next_i = j
                    break
            i = next_i
    return spans


# -- the rest ---------------------------------------------------------------------------------


def _email(m: re.Match[str]) -> str | None:
    local, at, domain = m.groups()
    if "@" not in at and not _TLD.search(domain):
        return None  # "at" and "#" are words too; only with a real domain are they "@"
    return f"{local[0]}***@{_DOMAIN_DOT.sub('.', domain)}"


def _handle(m: re.Match[str]) -> str:
    return m.group(1)[0] + "***"


def _plate(m: re.Match[str]) -> str | None:
    serial = m.group(3)
    return "*" * len(serial) if sum(c.isdigit() for c in serial) >= 2 else None


def _room(m: re.Match[str], group: int = 2) -> str | None:
    near = m.string[max(0, m.start() - 10) : m.end(group) + 10]
    if _PUBLIC_ROOM.search(near):
        return None  # 社区服务中心二楼201会议室: a room everyone may go to, not a home
    return "*" * len(m.group(group))


def _dashed_room(m: re.Match[str]) -> str | None:
    if len(m.group(2)) == 4 and m.group(2)[:2] in ("19", "20"):
        return None  # 5-12-2026 is a date
    return _room(m)


class _Typed:
    """The text as typed and its full-width-folded copy (one character to one). Patterns are
    matched in the folded copy and the same replacement is made in both, so the text outside
    the masks stays as the resident typed it and the copy is folded only once."""

    __slots__ = ("folded", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.folded = text.translate(_FOLD)

    def replace(self, spans: list[tuple[int, int, str]]) -> None:
        if spans:
            self.text = _replace(self.text, spans)
            self.folded = _replace(self.folded, spans)

    def sub(
        self,
        pattern: re.Pattern[str],
        repl: Callable[[re.Match[str]], str | None],
        group: int = 0,
    ) -> None:
        """Replace `group` of each match by `repl`'s answer; None leaves the match alone."""
        spans = []
        for m in pattern.finditer(self.folded):
            new = repl(m)
            if new is not None:
                spans.append((m.start(group), m.end(group), new))
        self.replace(spans)


def mask_pii(text: str, names: Iterable[str] = (), *, landlines: bool = True) -> str:
    """Mask what identifies a person: numbers (phone, landline, ID, bank card), e-mail, WeChat
    and QQ ids, licence plates, room numbers, the given names and names the text gives.
    `landlines=False` for staff's own text, where a landline is the station's or an office's
    published number."""
    t = _Typed(text)
    t.sub(_EMAIL, _email)
    t.sub(_WECHAT, _handle, 1)
    if _QQ_HINT.search(t.folded):  # cheap checks first: these patterns are slow to scan
        t.sub(_QQ, _handle, 1)
    t.sub(_PLATE, _plate, 3)
    t.replace(_number_spans(t.text, t.folded, landlines))
    t.sub(_ROOM_AFTER, _room, 2)
    if _DASH.search(t.folded):
        t.sub(_ROOM_DASHED, _dashed_room, 2)
    t.sub(_ROOM_BEFORE, lambda m: _room(m, 1), 1)
    t.sub(_ROOM_LIVED, _room, 2)
    text = t.text
    # Longest names first so "张三丰" is not half-masked by "张三"; Latin names in any case.
    found = {n.strip() for n in [*names, *introduced_names(text)] if n and len(n.strip()) >= 2}
    for name in sorted(found, key=len, reverse=True):
        masked = mask_name(name)
        text = re.sub(re.escape(name), lambda _m, m=masked: m, text, flags=re.IGNORECASE)
    return text


def mask_phone(phone: str) -> str:
    digits = re.sub(r"\D", "", phone.translate(_FOLD))
    if len(digits) == 13 and digits.startswith("86"):  # +86 138…: the country code is no clue
        digits = digits[2:]
    if len(digits) < 7:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]
