"""bot/media.py: a photo reference finds its channel's source; a reference never names a file
outside its folder; a source's failure is a missing photo, never an exception."""

from __future__ import annotations

from pathlib import Path

from bot.media import MediaRegistry, is_local_ref, web_uploads, wechat_images


class Broken:
    def handles(self, ref: str) -> bool:
        return ref.startswith("broken:")

    async def fetch(self, ref: str) -> bytes | None:
        raise OSError("disk gone")


async def test_each_reference_goes_to_its_own_folder(tmp_path: Path) -> None:
    (tmp_path / "web").mkdir()
    (tmp_path / "wx").mkdir()
    (tmp_path / "web" / "abc_DEF-1.jpg").write_bytes(b"web photo")
    digest = "0" * 64
    (tmp_path / "wx" / f"{digest}.jpg").write_bytes(b"wechat photo")
    media = MediaRegistry(web_uploads(tmp_path / "web"), wechat_images(tmp_path / "wx"))
    assert await media.fetch("web:abc_DEF-1") == b"web photo"
    assert await media.fetch(f"wechat-media:{digest}") == b"wechat photo"
    assert await media.fetch("web:missing") is None  # purged or never stored
    assert await media.fetch("AgACAgUAAxkBAAI123") is None  # no source registered for it
    assert is_local_ref("web:x") and is_local_ref("wechat-media:x")
    assert not is_local_ref("AgACAgUAAxkBAAI123")


async def test_a_reference_cannot_reach_outside_its_folder(tmp_path: Path) -> None:
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(b"not yours")
    (tmp_path / "web").mkdir()
    media = MediaRegistry(web_uploads(tmp_path / "web"), wechat_images(tmp_path / "wx"))
    for ref in ("web:../secret", "web:..%2Fsecret", "web:/etc/passwd", "wechat-media:../secret",
                "wechat-media:" + "g" * 64, "web:"):  # fmt: skip
        assert await media.fetch(ref) is None, ref
    assert not web_uploads(tmp_path / "web").remove("web:../secret")
    assert secret.exists()


async def test_a_failing_source_is_a_missing_photo(tmp_path: Path) -> None:
    assert await MediaRegistry(Broken()).fetch("broken:1") is None
