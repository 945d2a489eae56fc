"""FaqService over a real SQLite file: answers, miss logging, gaps, entries added in chat."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.clock import ManualClock
from bot.domain.model import InvalidInput
from bot.faq_service import FaqService
from bot.services import Liaison
from faq import FaqFileError
from storage.db import Database, fetch_all
from storage.repositories import StationRow

HUIMIN = StationRow("huimin", "惠民社区代表联络站", "HM", "惠民社区党群服务中心", "每周三上午", None)
XINGYUAN = StationRow("xingyuan", "星苑社区代表联络站", "XY", "星苑服务站二楼", "每周五下午", None)


@pytest.fixture
async def service(db: Database, clock: ManualClock, liaison: Liaison) -> FaqService:
    # `liaison` has synced the two stations (misses refer to them).
    faq = FaqService(db, clock)
    await faq.reload()
    return faq


async def test_answer_fills_the_station_fields(service: FaqService) -> None:
    reply = await service.ask("接待日是哪天？", HUIMIN)
    assert reply.kind == "answer" and reply.entry_id == "reception_time"
    assert "惠民社区代表联络站" in reply.answer and "每周三上午" in reply.answer
    general = await service.ask("接待日是哪天？", None)
    assert "{reception}" not in general.answer and "请以联络站公告为准" in general.answer


async def test_misses_are_logged_with_station_and_masked_text_only(
    service: FaqService, db: Database
) -> None:
    await service.ask("我家电话13812345678，小区电梯坏了", HUIMIN)
    await service.ask("处理结果", XINGYUAN)
    await service.ask("接待日是哪天？", HUIMIN)  # answered: not a miss
    async with db.read() as conn:
        rows = await fetch_all(conn, "SELECT * FROM faq_misses ORDER BY id")
    assert [r["station_id"] for r in rows] == ["huimin", "xingyuan"]
    assert rows[1]["kind"] == "suggest" and rows[0]["kind"] in ("suggest", "none")
    assert "13812345678" not in rows[0]["text"] and "138****5678" in rows[0]["text"]
    assert set(rows[0].keys()) == {"id", "at", "station_id", "kind", "text"}


async def test_gaps_are_grouped_limited_to_stations_and_recent(
    service: FaqService, clock: ManualClock
) -> None:
    await service.ask("去年的老问题：小区游泳池开了吗", HUIMIN)
    clock.advance(days=40)
    for text in ("充电桩什么时候装", "充电桩啥时候装？", "充電樁什麼時候裝"):
        await service.ask(text, HUIMIN)
    await service.ask("星苑的菜场什么时候开", XINGYUAN)
    groups = await service.gaps(["huimin"])
    assert groups[0].count == 3 and "充电桩" in groups[0].question
    assert not any("菜场" in g.question or "游泳池" in g.question for g in groups)
    everything = await service.gaps(None)
    assert any("菜场" in g.question for g in everything)


async def test_added_entry_works_at_once_for_its_stations(service: FaqService) -> None:
    before = len(service.entries)
    entry_id = await service.add("联络站可以免费打印吗", "可以，{station_name}免费打印。", None, ["huimin"])
    assert len(service.entries) == before + 1
    reply = await service.ask("联络站能免费打印吗", HUIMIN)
    assert reply.kind == "answer" and reply.entry_id == entry_id
    assert reply.answer == "可以，惠民社区代表联络站免费打印。"
    other = await service.ask("联络站能免费打印吗", XINGYUAN)
    assert other.entry_id != entry_id
    assert service.answer_for(entry_id, XINGYUAN) is None
    assert entry_id not in [e.id for e in service.topics("xingyuan")]
    assert entry_id in [e.id for e in service.topics("huimin")]


@pytest.mark.parametrize(("question", "answer"), [("问", "答案答案"), ("？？？", "答案答案")])
async def test_added_entry_is_validated(service: FaqService, question: str, answer: str) -> None:
    before = len(service.entries)
    with pytest.raises(InvalidInput):
        await service.add(question, answer, None)
    assert len(service.entries) == before


async def test_reload_keeps_the_old_index_when_the_file_is_broken(
    db: Database, clock: ManualClock, tmp_path: Path
) -> None:
    path = tmp_path / "faq.yaml"
    path.write_text("- {id: a, question: 能停车吗, answer: 能}\n", encoding="utf-8")
    service = FaqService(db, clock, path)
    assert await service.reload() == 1
    path.write_text("- {id: a, question: 能停车吗}\n", encoding="utf-8")
    with pytest.raises(FaqFileError, match="'a'"):
        await service.reload()
    assert (await service.ask("能停车吗", None)).kind == "answer"


async def test_greetings_and_thanks_are_small_talk_not_gaps(
    service: FaqService, db: Database
) -> None:
    for text in ("你好", "谢谢！", "在吗？", "👍", "您好，辛苦了"):
        assert (await service.ask(text, HUIMIN)).kind == "chat", text
    assert await service.gaps(["huimin"]) == []
    assert (await service.ask("你好，请问接待日是哪天", HUIMIN)).kind == "answer"
