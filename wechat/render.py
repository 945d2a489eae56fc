"""OutMessage → WeChat text: the HTML subset reduced to what WeChat shows (plain text and
<a href> links), buttons as numbered options, split to WeChat's ~2048-byte limit."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

from bot.i18n import Catalog, escape
from bot.messages import OutMessage

TEXT_LIMIT_BYTES = 2048  # 客服 and passive text messages: about 2048 bytes of UTF-8
_TAG = re.compile(r"<(/?)([a-zA-Z]+)([^>]*)>")
_HREF = re.compile(r'href="([^"]*)"')
_LINK_TAG = re.compile(r'(<a href="[^"]*">|</a>)')


@dataclass(frozen=True)
class Rendered:
    texts: tuple[str, ...]  # each at most TEXT_LIMIT_BYTES bytes
    actions: tuple[str, ...]  # option n (1-based) -> encoded action
    labels: tuple[str, ...] = ()  # option n's label (what a bizmsgmenu tap sends back as text)


def answer_messages(reply: Any, catalog: Catalog) -> list[OutMessage]:
    """The conversation's Reply as the messages a WeChat resident reads. WeChat has no pop-up
    and no edits, so what Telegram shows outside the messages is said in them:

    - the toast: a refusal or confirmation of a press (`alert`, e.g. "一小时内已经催办过…")
      always, as its own message after what the turn said (as Telegram says a refused
      command's alert in the chat: `error.wrap`); a plain acknowledgement ("已收到评价") only
      when the turn said nothing else ("已关注，办结时会通知您"), the messages already saying it
      otherwise;
    - `rebutton`, the new buttons of the card the press was on (`()`: none left): WeChat
      cannot change that card, so new buttons are offered as this answer's numbered options
      (on the last message when it has none of its own, else on the note or a message of
      their own). An answer's options replace the ones shown before (wechat/webhook.py), so
      a card whose buttons were taken away keeps no live numbers.

    Duck-typed on the Reply (toast, alert, rebutton read with defaults): the adapter's tests
    drive it with a recording double that answers messages only."""
    messages = list(reply.messages)
    toast: str | None = getattr(reply, "toast", None)
    alert: bool = bool(getattr(reply, "alert", False))
    rebutton = getattr(reply, "rebutton", None)
    note: OutMessage | None = None
    if toast and (alert or not messages):
        text = catalog.t("error.wrap", text=toast) if alert else escape(toast)
        note = OutMessage(text=text)
    if rebutton:
        if note is not None:
            note = replace(note, buttons=rebutton)
        elif messages and not messages[-1].buttons:
            messages[-1] = replace(messages[-1], buttons=rebutton)
        else:
            messages.append(OutMessage(text=catalog.t("wechat.new_options"), buttons=rebutton))
    if note is not None:
        messages.append(note)
    return messages


def to_wechat_text(html_text: str) -> str:
    """Keep <a href> (WeChat renders it as a link), drop the other tags, unescape entities."""
    out: list[str] = []
    pos = 0
    for m in _TAG.finditer(html_text):
        out.append(html.unescape(html_text[pos : m.start()]))
        closing, name = m.group(1), m.group(2).lower()
        if name == "a":
            if closing:
                out.append("</a>")
            else:
                href = _HREF.search(m.group(3))
                out.append(f'<a href="{href.group(1) if href else ""}">')
        elif name == "br":
            out.append("\n")
        pos = m.end()
    out.append(html.unescape(html_text[pos:]))
    return "".join(out)


def split_bytes(text: str, limit: int = TEXT_LIMIT_BYTES) -> list[str]:
    """Pieces of at most `limit` UTF-8 bytes, cut at line ends where possible, never inside a
    character (a CJK character is 3 bytes)."""
    if len(text.encode()) <= limit:
        return [text] if text else []
    pieces: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        if len((current + line).encode()) <= limit:
            current += line
            continue
        if current:
            pieces.append(current.rstrip("\n"))
            current = ""
        while len(line.encode()) > limit:
            cut, size = 0, 0
            for i, ch in enumerate(line):
                size += len(ch.encode())
                if size > limit:
                    cut = i
                    break
            pieces.append(line[:cut])
            line = line[cut:]
        current = line
    if current.strip():
        pieces.append(current.rstrip("\n"))
    return pieces


def menu_link(number: int, label: str, menu_id: int | None = None) -> str:
    """A bizmsgmenu choice (certified accounts): a tap sends `label` back as a text message
    carrying bizmsgmenuid=`menu_id`, the link's own stored id (WeChatRepo.add_menu), so a tap
    in an older message acts on its own card; the option's number when none is given."""
    ident = number if menu_id is None else menu_id
    return (
        f'<a href="weixin://bizmsgmenu?msgmenucontent={quote(label)}&msgmenuid={ident}">'
        f"{number}. {html.escape(label, quote=False)}</a>"
    )


def render(
    message: OutMessage,
    catalog: Catalog,
    msgmenu: bool = False,
    first: int = 1,
    menu_ids: Sequence[int] = (),
) -> Rendered:
    """The message as WeChat text; its buttons as options numbered from `first` (a batch of
    cards sent one after another numbers on, so each card's numbers are its own). `menu_ids`:
    the stored ids of its bizmsgmenu links, one per button in order (msgmenu only)."""
    body, options, actions, labels = _parts(message, catalog, msgmenu, first, menu_ids)
    text = body + "\n\n" + options if options else body
    return Rendered(tuple(split_bytes(text)), tuple(actions), tuple(labels))


def _parts(
    message: OutMessage,
    catalog: Catalog,
    msgmenu: bool,
    first: int = 1,
    menu_ids: Sequence[int] = (),
) -> tuple[str, str, list[str], list[str]]:
    """The rendered body (text and notes), the options block, the actions and labels."""
    text = to_wechat_text(message.text)
    if message.photos:
        # Telegram file ids and web uploads cannot be sent as WeChat images: say they exist
        note = catalog.plain("wechat.photos", count=len(message.photos))
        text = f"{text}\n{note}" if text else note
    if message.attachment is not None:
        # a desk command's chart or export (a Reply's file): no file goes out by 客服 text;
        # the web desk and Telegram have it
        note = catalog.plain("wechat.attachment", name=message.attachment.filename)
        text = f"{text}\n{note}" if text else note
    if message.location is not None:
        lat, lon = message.location
        text = (text + "\n" if text else "") + f"📍 {lat:.5f}, {lon:.5f}"
    actions: list[str] = []
    labels: list[str] = []
    lines: list[str] = []
    for row in message.buttons:
        for button in row:
            actions.append(button.action)
            labels.append(button.text)
            number = first - 1 + len(actions)
            if msgmenu:
                index = len(actions) - 1
                menu_id = menu_ids[index] if index < len(menu_ids) else None
                lines.append(menu_link(number, button.text, menu_id))
            else:
                lines.append(catalog.plain("wechat.option_line", number=number, label=button.text))
    options = catalog.plain("wechat.options_hint") + "\n" + "\n".join(lines) if lines else ""
    return text, options, actions, labels


def button_options(message: OutMessage) -> tuple[list[str], list[str]]:
    """The actions and labels of the message's buttons, in the order they are numbered."""
    buttons = [button for row in message.buttons for button in row]
    return [b.action for b in buttons], [b.text for b in buttons]


def rest_after(
    message: OutMessage, catalog: Catalog, msgmenu: bool, sent: int, first: int = 1
) -> OutMessage:
    """The message without its first `sent` rendered parts (already delivered as 客服 messages
    when WeChat closed the window): what the next path (template, waiting) must still carry,
    so the resident never reads part 1 twice. Its buttons are kept, so the options still work
    when the rest is shown; the notes (photos, file, location) already rendered stay as text."""
    body, options, _, _ = _parts(message, catalog, msgmenu, first)
    full = body + "\n\n" + options if options else body
    offset = 0
    for part in split_bytes(full)[:sent]:  # the parts are pieces of `full`, in order
        found = full.find(part, offset)
        offset = (found if found >= 0 else offset) + len(part)
    rest = body[offset:].lstrip("\n") if offset < len(body) else ""
    # back to the HTML subset the renderer reads: text escaped, the kept links as they were
    text = "".join(
        piece if _LINK_TAG.fullmatch(piece) else html.escape(piece, quote=False)
        for piece in _LINK_TAG.split(rest)
    )
    return replace(message, text=text, photos=(), attachment=None, location=None)
