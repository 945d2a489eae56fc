"""PII masking for anything that may be seen by people other than the wish's own parties."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

# Residents type on Chinese keyboards: full-width digits, letters, ＋, －, （）, ＠ and the
# ideographic space are read as their ASCII forms. The mapping is one character to one, so a
# match found in the folded text has the same span in the original, and the rest of the text
# is left as it was.
_FOLD = {0xFF01 + i: 0x21 + i for i in range(0x5E)} | {0x3000: 0x20}  # ！…～ → !…~

# Digits must not touch other digits, so a 18-digit ID is never read as a phone number.
_ID_CARD = re.compile(r"(?<![0-9A-Za-z])([1-9]\d{5}) ?(\d{8}) ?(\d{3}[\dXx])(?![0-9A-Za-z])")
_MOBILE = re.compile(r"(?<!\d)(?:\+?86[- ]?)?(1[3-9]\d)[- ]?(\d{4})[- ]?(\d{4})(?!\d)")
_LANDLINE = re.compile(r"(?<!\d)\(?(0\d{2,3})\)?[- ]?(\d{3,4})[- ]?(\d{4})(?!\d)")
_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*(@[A-Za-z0-9.-]+\.[A-Za-z]{2,})")

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
# A given name's first character is never one of these; its second is not one of these either,
# nor a word that usually follows a name (我是刘明反映…, 我叫王芳电话…).
_NOT_GIVEN = "的地得了是在住家们这那个位名从到和与及或也都就还很"
_NOT_SECOND = _NOT_GIVEN + "反来去要想说向给请今昨年月号楼室路街村区镇乡县市省电手微邮身联住"
_INTRODUCED_NAME = re.compile(
    r"(?:我是|我叫|本人是?|姓名[是为:：]?|名字[是叫为:：]?|联系人[是为:：]?|署名[:：]?)\s*"
    rf"((?:{_COMPOUND_SURNAMES}|[{_SURNAMES}])"
    rf"(?![{_NOT_GIVEN}])[\u4e00-\u9fff](?:(?![{_NOT_SECOND}])[\u4e00-\u9fff])?)"
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


def introduced_names(text: str) -> list[str]:
    """Names a person wrote about themselves: 我是刘小明 → ["刘小明"]."""
    return [m.group(1) for m in _INTRODUCED_NAME.finditer(text)]


def _sub(pattern: re.Pattern[str], repl: Callable[[re.Match[str]], str], text: str) -> str:
    """`pattern.sub` on the full-width-folded text, keeping the unmatched text as typed."""
    folded = text.translate(_FOLD)
    out: list[str] = []
    last = 0
    for m in pattern.finditer(folded):
        out.append(text[last : m.start()])
        out.append(repl(m))
        last = m.end()
    out.append(text[last:])
    return "".join(out)


def mask_pii(text: str, names: Iterable[str] = (), *, landlines: bool = True) -> str:
    """Mask ID, mobile and landline numbers, e-mail addresses, the given names and names the
    text introduces (我是刘小明). `landlines=False` for staff's own text, where a landline is the
    station's or an office's published number."""
    text = _sub(_ID_CARD, lambda m: m.group(1)[:3] + "*" * 11 + m.group(3)[-4:], text)
    text = _sub(_MOBILE, lambda m: f"{m.group(1)}****{m.group(3)}", text)
    if landlines:
        text = _sub(_LANDLINE, lambda m: f"{m.group(1)}-****{m.group(3)}", text)
    text = _sub(_EMAIL, lambda m: f"{m.group(1)}***{m.group(2)}", text)
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
