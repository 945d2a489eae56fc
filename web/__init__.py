"""The web channel: an aiohttp.web adapter that translates and renders, and decides nothing."""
