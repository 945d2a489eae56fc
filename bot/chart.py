"""The monthly chart (PNG): wishes received vs resolved per month, and the satisfaction rate.

matplotlib with the Agg backend (no display needed). Chinese labels need a CJK font; see
`cjk_font()` for where one is found. Without one the chart is still drawn (with a warning in the
log), only its Chinese characters show as boxes.
"""

from __future__ import annotations

import importlib.util
import io
import logging
import os
import threading
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

log = logging.getLogger(__name__)

# Debian/Ubuntu packages first (fonts-noto-cjk, fonts-wqy-microhei, fonts-wqy-zenhei), then
# the Noto Sans CJK SC that the `mplfonts` wheel ships (a runtime dependency from PyPI), so a
# fresh machine without any system font still draws Chinese.
SYSTEM_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJKsc-Regular.otf",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/System/Library/Fonts/PingFang.ttc",
    "C:/Windows/Fonts/msyh.ttc",
)
BUNDLED_FONT = ("mplfonts", "fonts", "NotoSansCJKsc-Regular.otf")
FONT_ENV = "LIAISON_CJK_FONT"  # an explicit font file wins over everything else
# matplotlib is not thread-safe; charts are drawn in worker threads, one at a time.
_DRAWING = threading.Lock()


def _bundled_font() -> Path | None:
    package, folder, name = BUNDLED_FONT
    try:
        spec = importlib.util.find_spec(package)  # located, not imported
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        path = Path(location) / folder / name
        if path.is_file():
            return path
    return None


@lru_cache(maxsize=1)
def cjk_font() -> Path | None:
    """A font file with Chinese glyphs, or None (logged once) if this machine has none."""
    explicit = os.environ.get(FONT_ENV)
    candidates: list[Path] = [Path(explicit)] if explicit else []
    candidates += [Path(p) for p in SYSTEM_FONTS]
    bundled = _bundled_font()
    if bundled is not None:
        candidates.append(bundled)
    for path in candidates:
        if path.is_file():
            return path
    log.warning(
        "no CJK font found: Chinese text in charts and QR labels will show as boxes;"
        " install fonts-noto-cjk (Debian) or the mplfonts package, or set %s",
        FONT_ENV,
    )
    return None


@lru_cache(maxsize=4)
def _register(path: str) -> None:
    """Make the font known to matplotlib once (every call would add it to its list again)."""
    from matplotlib import font_manager

    font_manager.fontManager.addfont(path)


@dataclass(frozen=True)
class ChartLabels:
    title: str
    received: str
    resolved: str
    satisfaction: str
    count: str


@dataclass(frozen=True)
class MonthPoint:
    month: str  # YYYY-MM
    received: int
    resolved: int
    satisfaction: float | None  # percent


def render_chart(points: list[MonthPoint], labels: ChartLabels, *, dpi: int = 100) -> bytes:
    """A 1000×600 PNG: bars of received and resolved wishes per month, the satisfaction rate
    as a line on a second axis (0-100 %)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib import font_manager
    from matplotlib.figure import Figure

    font = cjk_font()
    with _DRAWING, warnings.catch_warnings():
        props = None
        if font is not None:
            _register(str(font))
            props = font_manager.FontProperties(fname=str(font))
        else:  # logged once already; matplotlib would warn for every glyph
            warnings.filterwarnings("ignore", message="Glyph .* missing from")
        return _draw(Figure(figsize=(10, 6), dpi=dpi), points, labels, props)


def _draw(fig, points: list[MonthPoint], labels: ChartLabels, props) -> bytes:  # type: ignore[no-untyped-def]
    ax = fig.add_subplot(1, 1, 1)
    xs = list(range(len(points)))
    width = 0.38
    ax.bar(
        [x - width / 2 for x in xs],
        [p.received for p in points],
        width,
        label=labels.received,
        color="#c0392b",
    )
    ax.bar(
        [x + width / 2 for x in xs],
        [p.resolved for p in points],
        width,
        label=labels.resolved,
        color="#2e86c1",
    )
    ax.set_xticks(xs)
    ax.set_xticklabels([p.month for p in points])
    ax.set_ylabel(labels.count, fontproperties=props)
    top = max([p.received for p in points] + [1])
    ax.set_ylim(0, top * 1.2 + 1)
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax2 = ax.twinx()
    sat = [
        (x, p.satisfaction) for x, p in zip(xs, points, strict=True) if p.satisfaction is not None
    ]
    if sat:
        ax2.plot(
            [x for x, _ in sat],
            [s for _, s in sat],
            marker="o",
            color="#27ae60",
            label=labels.satisfaction,
        )
    ax2.set_ylim(0, 105)
    ax2.set_ylabel(f"{labels.satisfaction} (%)", fontproperties=props)
    ax.set_title(labels.title, fontproperties=props, fontsize=14)
    handles = ax.get_legend_handles_labels()
    handles2 = ax2.get_legend_handles_labels()
    ax.legend(handles[0] + handles2[0], handles[1] + handles2[1], loc="upper left", prop=props)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()
