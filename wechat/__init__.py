"""WeChat Official Account (服务号) channel adapter: translates and renders, decides nothing."""
