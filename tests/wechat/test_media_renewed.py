"""A WeChat image received again (the same picture: the same file, named by its content) has
its file's time renewed, so retention's sweep (bot/retention.py), which deletes kept files no
row refers to once they are older than a draft can be, keeps it for the new draft. Before,
the file kept the time of its first arrival."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.web.test_web_pages import _jpeg_with_gps
from tests.wechat.test_webhook import OPENID, Rig, rig

__all__ = ["rig"]


async def test_the_same_picture_again_renews_its_file(rig: Rig, tmp_path: Path) -> None:
    picture = _jpeg_with_gps()
    rig.fake.media["FIRST"] = picture
    rig.fake.media["AGAIN"] = picture  # another media id, the same bytes
    await rig.fake.push(rig.fake.xml(OPENID, "image", PicUrl="http://mmbiz/x.jpg", MediaId="FIRST"))
    ref = rig.conversation.seen[0].photos[0]
    path = tmp_path / "media" / f"{ref.split(':')[1]}.jpg"
    long_ago = time.time() - 200 * 86400  # an old wish's photo, its reference aged out
    os.utime(path, (long_ago, long_ago))
    await rig.fake.push(rig.fake.xml(OPENID, "image", PicUrl="http://mmbiz/x.jpg", MediaId="AGAIN"))
    assert rig.conversation.seen[1].photos == (ref,)
    assert path.stat().st_mtime > long_ago + 100 * 86400


def test_an_image_file_appears_whole_or_not_at_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash between writing and moving into place leaves no file under the picture's name
    (later copies of the picture would reuse a cut one for ever), only a `.part` the sweep
    removes. The old code wrote the final name directly."""
    from wechat import webhook

    target = tmp_path / f"{'a' * 64}.jpg"

    def crash(src: object, dst: object) -> None:
        raise OSError("power cut")

    monkeypatch.setattr(webhook.os, "replace", crash)
    with pytest.raises(OSError):
        webhook._write_whole(target, b"\xff\xd8 the whole picture")
    assert not target.exists() and target.with_suffix(".part").exists()
    monkeypatch.undo()
    webhook._write_whole(target, b"\xff\xd8 the whole picture")
    assert target.read_bytes() == b"\xff\xd8 the whole picture"
    assert not target.with_suffix(".part").exists()
