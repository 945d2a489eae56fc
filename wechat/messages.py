"""WeChat pushes (普通消息 and 事件推送) parsed strictly, and the passive replies (被动回复).

Untrusted input: the body is size-capped, parsed with defusedxml (no DTD, no entities, so no
billion-laughs or external entities), and each field is checked for shape and length.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from xml.etree.ElementTree import Element

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

MAX_BODY = 64 * 1024  # a text push is at most a few KB, an encrypted one about three times that
MAX_FIELD = 8 * 1024  # a field of the (decrypted) push; not <Encrypt>, which MAX_BODY bounds
_OPENID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_DIGITS = re.compile(r"^[0-9]{1,20}$")

MESSAGE_TYPES = {"text", "image", "voice", "video", "shortvideo", "location", "link", "event"}
EVENTS = {"subscribe", "unsubscribe", "SCAN", "CLICK", "VIEW"}


class BadPush(ValueError):
    """Not a push we can read: answered with a refusal, nothing changed."""


@dataclass(frozen=True)
class Push:
    to_user: str  # the account's original id (gh_…)
    from_user: str  # the resident's openid
    create_time: int
    msg_type: str  # text, image, voice, location, link, event, …
    msg_id: str = ""  # absent on events
    content: str = ""  # text
    menu_id: str = ""  # text: bizmsgmenuid, a tap on a msgmenu choice
    pic_url: str = ""
    media_id: str = ""  # image, voice: temporary media, downloadable for 3 days
    recognition: str = ""  # voice: speech recognition, when the account turned it on
    location: tuple[float, float] | None = None
    label: str = ""  # location: the place's name
    title: str = ""  # link
    url: str = ""  # link
    event: str = ""  # subscribe, unsubscribe, SCAN, CLICK, VIEW
    event_key: str = (
        ""  # qrscene_<scene> on subscribe, <scene> on SCAN, the key on CLICK, URL on VIEW
    )
    encrypted: str = ""  # safe/compatible mode: the Encrypt element
    # subscribe_msg_popup_event / subscribe_msg_change_event: (template id, accept|reject)
    consents: tuple[tuple[str, str], ...] = ()

    @property
    def dedupe_key(self) -> str:
        """WeChat retries an unanswered push: messages are deduplicated by MsgId, events (which
        have none) by FromUserName + CreateTime, as the documentation advises, and by the
        event and its key: two menu items tapped within one second are two pushes (the second
        was taken for a retry of the first and never answered); a retry repeats both."""
        if self.msg_id:
            return f"msg:{self.msg_id}"
        key = f"ev:{self.from_user}:{self.create_time}:{self.event}"
        return f"{key}:{self.event_key}" if self.event_key else key

    @property
    def scene(self) -> str:
        """The parametric QR scene of a follow (qrscene_<scene>) or a scan (<scene>), else ""."""
        if self.event == "subscribe" and self.event_key.startswith("qrscene_"):
            return self.event_key[len("qrscene_") :]
        if self.event == "SCAN":
            return self.event_key
        return ""


def _text(root: Element, name: str, limit: int = MAX_FIELD) -> str:
    node = root.find(name)
    if node is None or node.text is None:
        return ""
    value = node.text.strip() if name != "Content" else node.text
    if len(value) > limit:
        raise BadPush(f"{name} too long")
    return value


def parse_envelope(body: bytes) -> Element:
    if len(body) > MAX_BODY:
        raise BadPush("body too large")
    try:
        root = fromstring(body)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise BadPush("not XML") from exc
    if root.tag != "xml":
        raise BadPush("root is not <xml>")
    return root


def encrypted_part(body: bytes) -> str:
    """The Encrypt element of a safe- or compatible-mode push."""
    # The ciphertext of a push is about 4/3 of its UTF-8 bytes (a CJK character is 3): a text of
    # 2 000 Chinese characters, well within a field once decrypted, is a ~8 400-character
    # Encrypt. The body cap bounds it; the decrypted push is field-checked as any other.
    value = _text(parse_envelope(body), "Encrypt", limit=MAX_BODY)
    if not value:
        raise BadPush("no Encrypt")
    return value


def parse_push(body: bytes) -> Push:
    root = parse_envelope(body)
    to_user, from_user = _text(root, "ToUserName"), _text(root, "FromUserName")
    msg_type, created = _text(root, "MsgType"), _text(root, "CreateTime")
    if not _OPENID.match(from_user) or not to_user or len(to_user) > 64:
        raise BadPush("bad user names")
    if msg_type not in MESSAGE_TYPES:
        raise BadPush("unknown MsgType")
    if not _DIGITS.match(created):
        raise BadPush("bad CreateTime")
    msg_id = _text(root, "MsgId")
    if msg_id and not _DIGITS.match(msg_id):
        raise BadPush("bad MsgId")
    if msg_type != "event" and not msg_id:
        raise BadPush("message without MsgId")
    fields: dict[str, object] = {}
    if msg_type == "text":
        fields["content"] = _text(root, "Content")
        fields["menu_id"] = _text(root, "bizmsgmenuid")
    elif msg_type in ("image", "voice", "video", "shortvideo"):
        fields["media_id"] = _text(root, "MediaId")
        fields["pic_url"] = _text(root, "PicUrl")
        fields["recognition"] = _text(root, "Recognition")
        if not fields["media_id"]:
            raise BadPush("media without MediaId")
    elif msg_type == "location":
        try:
            lat, lon = float(_text(root, "Location_X")), float(_text(root, "Location_Y"))
        except ValueError as exc:
            raise BadPush("bad location") from exc
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise BadPush("location out of range")
        fields["location"] = (lat, lon)
        fields["label"] = _text(root, "Label")
    elif msg_type == "link":
        fields["title"] = _text(root, "Title")
        fields["url"] = _text(root, "Url")
    else:
        event = _text(root, "Event")
        if event not in EVENTS:
            # other events (TEMPLATESENDJOBFINISH, subscribe_msg_popup_event, …) are read but ignored
            event = event[:64]
        fields["event"] = event
        fields["event_key"] = _text(root, "EventKey")[:512]
        if event in ("subscribe_msg_popup_event", "subscribe_msg_change_event"):
            fields["consents"] = _consents(root)
    return Push(
        to_user=to_user,
        from_user=from_user,
        create_time=int(created),
        msg_type=msg_type,
        msg_id=msg_id,
        **fields,  # type: ignore[arg-type]
    )


def _consents(root: Element) -> tuple[tuple[str, str], ...]:
    """The template ids a resident accepted or rejected in a subscription pop-up (订阅通知)."""
    found: list[tuple[str, str]] = []
    for container in root:
        if not container.tag.startswith("SubscribeMsg"):
            continue
        for item in container.iter("List"):
            template_id = _text(item, "TemplateId")
            status = _text(item, "SubscribeStatusString")
            if template_id and len(template_id) <= 128 and status in ("accept", "reject"):
                found.append((template_id, status))
            if len(found) >= 20:
                break
    return tuple(found)


def _cdata(value: str) -> str:
    # "]]>" cannot appear inside CDATA: split it across two sections
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def text_reply(push: Push, content: str, now: int | None = None) -> str:
    """The passive text reply to a push (From and To swapped)."""
    created = int(time.time()) if now is None else now
    return (
        f"<xml><ToUserName>{_cdata(push.from_user)}</ToUserName>"
        f"<FromUserName>{_cdata(push.to_user)}</FromUserName>"
        f"<CreateTime>{created}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content>{_cdata(content)}</Content></xml>"
    )


SUCCESS = "success"  # stops WeChat's retries; the answer then goes out as 客服 messages
