"""WeChat webhook benchmark: how long a push takes from WeChat's POST to our answer.

Run from the repository root (no network; WeChat is the fake from ``tests/fake_wechat.py``)::

    python bench/wechat_bench.py              # 500 pushes per mode
    python bench/wechat_bench.py --pushes 200

What runs: the real ``WeChatWebhook`` on aiohttp with a real SQLite file (each push is stored
in the inbox and marked done), answering through a conversation that returns one text card at
once, so what is measured is the adapter: signature, (in safe mode) msg_signature + AES decrypt,
strict XML parsing, the inbox write, rendering, the passive reply and (in safe mode) its
encryption. Pushes are sent one after another by the fake. Reported per mode: median and 95th
percentile of the round trip, and pushes per second; WeChat allows 5 s per push.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.clock import SystemClock
from bot.i18n import Catalog
from bot.messages import OutMessage
from storage.db import Database
from tests.fake_wechat import FakeWeChat
from wechat.api import WeChatApi
from wechat.channel import WeChatChannel
from wechat.webhook import Input, WebhookConfig, WeChatWebhook

AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


@dataclass
class Reply:
    messages: tuple[OutMessage, ...]


class Echo:
    async def handle(self, event: Input) -> Reply:
        return Reply((OutMessage(text=f"收到：{event.text}"),))


async def run_mode(mode: str, pushes: int, folder: Path) -> dict[str, float]:
    fake = FakeWeChat(aes_key=AES_KEY if mode == "aes" else "")
    await fake.start()
    db = Database(folder / f"{mode}.db")
    await db.connect()
    api = WeChatApi(fake.app_id, fake.app_secret, fake.base_url)
    clock = SystemClock()
    channel = WeChatChannel(db, api, clock, Catalog("zh_CN"))
    config = WebhookConfig(token=fake.token, app_id=fake.app_id, aes_key=fake.aes_key)
    hook = WeChatWebhook(config, db, clock, Echo(), channel, api, make_event=lambda i: i)
    app = web.Application()
    hook.attach(app)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    fake.webhook_url = f"http://127.0.0.1:{port}/wechat"
    times: list[float] = []
    began = time.perf_counter()
    for i in range(pushes):
        xml = fake.text(f"oBench{i % 50:04d}", "小区门口路灯坏了三天，晚上很不安全")
        t0 = time.perf_counter()
        result = await fake.push(xml)
        times.append(time.perf_counter() - t0)
        assert result.status == 200 and "收到" in result.plaintext, result
    total = time.perf_counter() - began
    await runner.cleanup()
    await api.close()
    await db.close()
    await fake.stop()
    times.sort()
    return {
        "median_ms": statistics.median(times) * 1000,
        "p95_ms": times[int(len(times) * 0.95) - 1] * 1000,
        "per_second": pushes / total,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pushes", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("plain", "aes"):
            r = await run_mode(mode, args.pushes, Path(tmp))
            print(
                f"{mode:5}  {args.pushes} pushes  median {r['median_ms']:.1f} ms  "
                f"p95 {r['p95_ms']:.1f} ms  {r['per_second']:.0f} pushes/s"
            )


if __name__ == "__main__":
    asyncio.run(main())
