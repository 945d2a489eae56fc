"""Retention ages out photo files too (a real SQLite file, real files in real folders, the
Clock fake): the photos of a wish finished LIAISON_RETENTION_PHOTOS_DAYS ago (references of
every channel, and the files this process keeps: web uploads, WeChat images), and kept files
nothing refers to any more (an abandoned draft's, an upload never sent, one a crashed purge
left). Before, the retention job never touched a photo: every file below stayed for ever."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.clock import ManualClock
from bot.domain.draft import Draft
from bot.domain.model import Action, Rating
from bot.media import FolderMedia, web_uploads, wechat_images
from bot.retention import Retention, RetentionPolicy, purge_resident
from bot.services import Liaison
from bot.settings import Settings
from storage.db import Database, fetch_all
from storage.web import WebRepo
from tests.conftest import person

RESIDENT, NEIGHBOUR, DRAFTER, STAFF = 700001, 700002, 700003, 900001
POLICY = RetentionPolicy(session_hours=24, photos_days=180)
SHARED = "a" * 64  # the same picture sent by two residents: one file, named by its content
OLD_WECHAT = "b" * 64  # a WeChat image of a draft never sent
OPEN_WECHAT = "c" * 64


class Folders:
    """The two folders of kept photos, files written "at" the fake clock's time."""

    def __init__(self, tmp_path: Path, clock: ManualClock) -> None:
        self.web = web_uploads(tmp_path / "web-data" / "uploads")
        self.wechat = wechat_images(tmp_path / "wechat_media")
        self.clock = clock
        self.web.folder.mkdir(parents=True)
        self.wechat.folder.mkdir(parents=True)

    def write(self, ref: str) -> Path:
        source = self.web if self.web.handles(ref) else self.wechat
        path = source.path_of(ref)
        assert path is not None
        path.write_bytes(b"\xff\xd8 a resident's photo")
        self.age(path, self.clock.now())
        return path

    @staticmethod
    def age(path: Path, at: datetime) -> None:
        os.utime(path, (at.timestamp(), at.timestamp()))

    def exists(self, ref: str) -> bool:
        source: FolderMedia = self.web if self.web.handles(ref) else self.wechat
        path = source.path_of(ref)
        return path is not None and path.exists()

    @property
    def both(self) -> tuple[FolderMedia, FolderMedia]:
        return self.web, self.wechat


async def upload(db: Database, folders: Folders, upload_id: str, account: str = "visitor") -> str:
    """A web upload as web/server.py stores it: the file, then its row."""
    ref = f"web:{upload_id}"
    folders.write(ref)
    async with db.transaction() as conn:
        await WebRepo(conn).add_upload(upload_id, account, folders.clock.now())
    return ref


async def wish_with_photos(liaison: Liaison, resident: int, text: str, photos: list[str]):
    user = await liaison.people.identify(person(resident))
    await liaison.directory.choose_station(user, "huimin")
    await liaison.flows.start_draft(user)

    def fill(d: Draft) -> Draft:
        d = d.with_category("traffic").with_text(text)
        for ref in photos:
            d = d.with_photo(ref, None)
        return d.described().with_public(False).with_phone("13812345678")

    await liaison.flows.update_draft(user, fill)
    wish, _ = await liaison.wishes.submit_draft(user)
    return user, wish


async def photo_refs(db: Database) -> set[str]:
    async with db.read() as conn:
        rows = await fetch_all(conn, "SELECT file_ref FROM wish_attachments WHERE kind='photo'")
    return {str(r[0]) for r in rows}


async def upload_rows(db: Database) -> set[str]:
    async with db.read() as conn:
        return {str(r[0]) for r in await fetch_all(conn, "SELECT id FROM web_uploads")}


async def test_photos_of_finished_wishes_and_unreferenced_files_age_out(
    liaison: Liaison, db: Database, clock: ManualClock, tmp_path: Path
) -> None:
    folders = Folders(tmp_path, clock)
    retention = Retention(db, clock, POLICY, files=folders.both)
    staff = await liaison.people.identify(person(STAFF))

    # a wish with a photo of each channel, finished (resolved, rated: closed) today
    closed_web = await upload(db, folders, "closed-upload")
    folders.write(f"wechat-media:{SHARED}")
    telegram = "AgACAgUAAxkBAAIBtelegram"  # a Telegram file id: Telegram's copy, a reference here
    resident, closed = await wish_with_photos(
        liaison, RESIDENT, "路灯坏了", [closed_web, f"wechat-media:{SHARED}", telegram]
    )
    await liaison.wishes.act(staff, closed.id, Action.RESOLVE, body="已修好")
    await liaison.wishes.act(resident, closed.id, Action.RATE, rating=Rating.SATISFIED)
    # an open wish, with its own upload and image, and the same picture as the closed one
    open_web = await upload(db, folders, "open-upload")
    folders.write(f"wechat-media:{OPEN_WECHAT}")
    _, still_open = await wish_with_photos(
        liaison, NEIGHBOUR, "井盖松动",
        [open_web, f"wechat-media:{OPEN_WECHAT}", f"wechat-media:{SHARED}"],
    )  # fmt: skip
    # what no wish has: an upload never sent, an image of a draft dropped, a half-written upload
    abandoned = await upload(db, folders, "abandoned")
    folders.write(f"wechat-media:{OLD_WECHAT}")
    partial = folders.web.folder / "crashed.part"
    partial.write_bytes(b"\xff\xd8 half")
    folders.age(partial, clock.now())
    # a draft under way (its session is kept while the resident is at it) and a broadcast's photo
    drafting = await upload(db, folders, "in-a-draft")
    drafter = await liaison.people.identify(person(DRAFTER))
    await liaison.directory.choose_station(drafter, "huimin")
    await liaison.flows.start_draft(drafter)
    await liaison.flows.update_draft(
        drafter,
        lambda d: (
            d.with_category("traffic").with_text("楼道的灯坏了好几天").with_photo(drafting, None)
        ),
    )
    notice = await upload(db, folders, "notice", account="staff-web")
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO broadcasts (created_at, created_by, station_id, audience, text, photos,"
            " status, total) VALUES (?, ?, 'huimin', 'station', '停水通知', ?, 'done', 1)",
            (clock.now().isoformat(), staff.id, f'["{notice}"]'),
        )
    # not this folder's kind of file: never touched, however old
    stranger = folders.wechat.folder / "notes.jpg"
    stranger.write_bytes(b"not ours")
    folders.age(stranger, clock.now())

    clock.advance(hours=23)
    await liaison.flows.update_draft(drafter, lambda d: d.with_text("晚上完全不亮"))  # still at it
    done = await retention.prune()
    assert done["photo_files"] == 0 and done["web_uploads"] == 0  # nothing a day old yet
    clock.advance(hours=2)
    await liaison.flows.update_draft(drafter, lambda d: d.with_text("在三楼东边"))
    done = await retention.prune()
    # no row, and older than a draft can be: gone, row and file
    assert done["web_uploads"] == 1 and done["photo_files"] == 3
    assert not folders.exists(abandoned) and "abandoned" not in await upload_rows(db)
    assert not folders.exists(f"wechat-media:{OLD_WECHAT}") and not partial.exists()
    # what a wish, the draft under way or the broadcast has stays; so does a stranger's file
    for kept in (closed_web, f"wechat-media:{SHARED}", open_web, drafting, notice):
        assert folders.exists(kept), kept
    assert {"closed-upload", "open-upload", "in-a-draft", "notice"} <= await upload_rows(db)
    assert stranger.exists()
    assert await photo_refs(db) == {
        closed_web, f"wechat-media:{SHARED}", telegram, open_web, f"wechat-media:{OPEN_WECHAT}"
    }  # fmt: skip

    # LIAISON_RETENTION_PHOTOS_DAYS after the wish was closed: its photos go, every channel's
    clock.advance(days=179, hours=-2)  # closed 179 days and 23 hours ago
    assert (await retention.prune())["photos"] == 0
    clock.advance(hours=2)
    done = await retention.prune()
    assert done["photos"] == 3
    assert await photo_refs(db) == {
        open_web, f"wechat-media:{OPEN_WECHAT}", f"wechat-media:{SHARED}"
    }  # fmt: skip
    assert not folders.exists(closed_web) and "closed-upload" not in await upload_rows(db)
    assert folders.exists(f"wechat-media:{SHARED}")  # the open wish has the same picture
    assert not folders.exists(drafting)  # the draft was dropped after a day idle: its upload too
    assert folders.exists(open_web) and folders.exists(f"wechat-media:{OPEN_WECHAT}")
    assert folders.exists(notice) and stranger.exists()
    async with db.read() as conn:
        rows = await fetch_all(conn, "SELECT text FROM wishes WHERE id=?", (closed.id,))
    assert rows[0][0] == "路灯坏了"  # the wish itself is the station's record and stays
    # the uploader's own link no longer finds it either (its row is gone)
    async with db.read() as conn:
        assert await WebRepo(conn).upload_owner("closed-upload") is None

    # the open wish is withdrawn: its photos follow the same rule from then on
    neighbour = await liaison.people.identify(person(NEIGHBOUR))
    await liaison.wishes.act(neighbour, still_open.id, Action.WITHDRAW)
    clock.advance(days=181)
    await retention.prune()
    assert await photo_refs(db) == set()
    for ref in (open_web, f"wechat-media:{OPEN_WECHAT}", f"wechat-media:{SHARED}"):
        assert not folders.exists(ref), ref
    assert folders.exists(notice) and stranger.exists()


async def test_a_file_left_by_an_interrupted_purge_is_swept(
    liaison: Liaison, db: Database, clock: ManualClock, tmp_path: Path
) -> None:
    """The purge commits, then deletes the files; a crash in between used to leave them for
    ever. The sweep finds them from the database alone (no row refers to them)."""
    folders = Folders(tmp_path, clock)
    ref = await upload(db, folders, "purged-upload", account="web-resident")
    folders.write(f"wechat-media:{SHARED}")
    await wish_with_photos(liaison, RESIDENT, "路灯坏了", [ref, f"wechat-media:{SHARED}"])
    # as if the process died right after the transaction: no folder to delete from
    await purge_resident(db, "telegram", str(RESIDENT), files=())
    assert folders.exists(ref) and folders.exists(f"wechat-media:{SHARED}")
    clock.advance(hours=25)
    done = await Retention(db, clock, POLICY, files=folders.both).prune()
    assert done["photo_files"] == 2
    assert not folders.exists(ref) and not folders.exists(f"wechat-media:{SHARED}")


async def test_the_sweep_runs_hourly_on_the_tick_and_keeps_a_picture_received_again(
    db: Database, clock: ManualClock, tmp_path: Path
) -> None:
    """The tick prunes every ten minutes and sweeps the folders every hour; a file whose time
    was renewed (WeChat's same picture again: wechat/webhook.py) is kept for its new draft."""
    folders = Folders(tmp_path, clock)
    retention = Retention(db, clock, POLICY, files=folders.both)
    first = folders.write(f"wechat-media:{OLD_WECHAT}")
    second = folders.write(f"wechat-media:{SHARED}")
    clock.advance(hours=25)
    folders.age(second, clock.now())  # received again just now, for a new draft
    assert await retention.tick() == 1
    assert not first.exists() and second.exists()
    third = folders.write(f"wechat-media:{OPEN_WECHAT}")
    folders.age(third, clock.now() - timedelta(hours=25))  # long unreferenced
    clock.advance(minutes=11)
    await retention.tick()  # prunes the rows, but the folders were swept 11 minutes ago
    assert third.exists()
    clock.advance(minutes=50)
    assert await retention.tick() == 1
    assert not third.exists() and second.exists()


def test_the_running_bot_sweeps_the_folders_the_channels_keep(tmp_path: Path) -> None:
    """Where bot/app.py's retention looks: the web uploads beside the database and
    LIAISON_WECHAT_MEDIA_DIR, with LIAISON_RETENTION_PHOTOS_DAYS."""
    from bot.app import retention as build_retention

    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database=tmp_path / "liaison.db",
        wechat_media_dir=tmp_path / "wx",
        retention_photos_days=30,
    )
    retention = build_retention(Database(tmp_path / "liaison.db"), ManualClock(), settings)
    assert [f.folder for f in retention.files] == [
        tmp_path / "web-data" / "uploads",
        tmp_path / "wx",
    ]
    assert retention.policy.photos_days == 30


@pytest.mark.parametrize("days", [0, -1])
def test_the_photos_period_is_at_least_a_day(days: int, tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        Settings(_env_file=None, retention_photos_days=days)  # type: ignore[call-arg]


async def test_one_folder_for_both_channels_deletes_only_what_neither_uses(
    liaison: Liaison, db: Database, clock: ManualClock, tmp_path: Path
) -> None:
    """LIAISON_WECHAT_MEDIA_DIR set to the web uploads' folder: a WeChat image's name is also
    a web upload's kind of name; it is kept while a wish has it under either."""
    shared = tmp_path / "photos"
    shared.mkdir()
    kinds = (web_uploads(shared), wechat_images(shared))
    used, unused = shared / f"{SHARED}.jpg", shared / f"{OLD_WECHAT}.jpg"
    for path in (used, unused):
        path.write_bytes(b"\xff\xd8 photo")
        Folders.age(path, clock.now())
    await wish_with_photos(liaison, RESIDENT, "路灯坏了", [f"wechat-media:{SHARED}"])
    clock.advance(hours=25)
    done = await Retention(db, clock, POLICY, files=kinds).prune()
    assert done["photo_files"] == 1 and used.exists() and not unused.exists()
