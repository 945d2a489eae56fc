"""wechat.crypto against published vectors: WeChat's own sample (WXBizMsgCrypt Sample.py), the
plaintext-mode example of the 消息加解密说明 page, and the vectors wechatpy's tests carry for the
same algorithm (corp id in place of the appid)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wechat.crypto import (
    AppIdError,
    CryptoError,
    MessageCrypto,
    SignatureError,
    check_signature,
    pkcs7_pad,
    pkcs7_unpad,
    signature,
)

# WeChat's sample code (SampleCode.zip, python/Sample.py)
SAMPLE_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
SAMPLE_TOKEN = "spamtest"
SAMPLE_APPID = "wx2c2769f8efd9abc2"
SAMPLE_ENCRYPT = (
    "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAF"
    "mOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8d"
    "KOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5"
    "RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsN"
    "PfUM669WuMyVWQLCzpu9GhglF2PE="
)

# wechatpy tests/test_crypto.py
WP_TOKEN = "123456"
WP_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
WP_ID = "wx49f0ab532d5d035a"


def test_plain_signature_matches_the_documented_example() -> None:
    # 消息加解密说明, 明文模式: Token AAAAA, timestamp 1714037059, nonce 486452656
    assert (
        signature("AAAAA", "1714037059", "486452656") == "899cf89e464efb63f54ddac96b0a0a235f53aa78"
    )
    assert check_signature(
        "AAAAA", "899cf89e464efb63f54ddac96b0a0a235f53aa78", "1714037059", "486452656"
    )
    assert not check_signature(
        "AAAAA", "899cf89e464efb63f54ddac96b0a0a235f53aa78", "1714037059", "486452657"
    )


def test_decrypts_wechats_sample_push() -> None:
    crypto = MessageCrypto(SAMPLE_TOKEN, SAMPLE_KEY, SAMPLE_APPID)
    plain = crypto.open(
        "5d197aaffba7e9b25a30732f161a50dee96bd5fa", "1409735669", "1320562132", SAMPLE_ENCRYPT
    )
    assert "<FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>" in plain
    assert "<Content><![CDATA[abcdteT]]></Content>" in plain


def test_sample_push_with_a_wrong_signature_or_appid_is_refused() -> None:
    crypto = MessageCrypto(SAMPLE_TOKEN, SAMPLE_KEY, SAMPLE_APPID)
    with pytest.raises(SignatureError):
        crypto.open(
            "5d197aaffba7e9b25a30732f161a50dee96bd5fb", "1409735669", "1320562132", SAMPLE_ENCRYPT
        )
    other = MessageCrypto(SAMPLE_TOKEN, SAMPLE_KEY, "wx0000000000000000")
    with pytest.raises(AppIdError):
        other.open(
            "5d197aaffba7e9b25a30732f161a50dee96bd5fa", "1409735669", "1320562132", SAMPLE_ENCRYPT
        )


def test_decrypts_wechatpys_vector() -> None:
    encrypted = (
        "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeDXz"
        "F6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYN"
        "x410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjH"
        "nwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCp"
        "QVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0="
    )
    crypto = MessageCrypto(WP_TOKEN, WP_KEY, WP_ID)
    plain = crypto.open(
        "74d92dfeb87ba7c714f89d98870ae5eb62dff26d", "1411525903", "461056294", encrypted
    )
    assert "<Content><![CDATA[test]]></Content>" in plain
    assert "<FromUserName><![CDATA[messense]]></FromUserName>" in plain


def test_encrypts_to_wechatpys_expected_reply() -> None:
    reply = (
        "<xml>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n"
        "<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>\n"
        "<ToUserName><![CDATA[messense]]></ToUserName>\n<AgentID>1</AgentID>\n"
        "<CreateTime>1411525903</CreateTime>\n</xml>"
    )
    crypto = MessageCrypto(WP_TOKEN, WP_KEY, WP_ID, random_bytes=lambda n: b"1234567890123456"[:n])
    encrypted = crypto.encrypt(reply)
    assert encrypted == (
        "9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNcBqGsL8Gq"
        "xlhZgURnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY0nFhHZSjPUL2Q1qv"
        "SUCUld+/WIXrx0oyKQmpB6o8NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwbgX05UPPJvFurDXafG0RQyP"
        "R+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nTYjxxEE8kv3kFxtAGVRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3"
    )
    assert crypto.msg_signature("1411525903", "461056294", encrypted) == (
        "407518b7649e86ef23978113f92d27afa9296533"
    )


@given(st.text(max_size=3000))
def test_round_trip(text: str) -> None:
    crypto = MessageCrypto(SAMPLE_TOKEN, SAMPLE_KEY, SAMPLE_APPID)
    assert crypto.decrypt(crypto.encrypt(text)) == text


@given(st.binary(max_size=200))
def test_padding_round_trip(data: bytes) -> None:
    padded = pkcs7_pad(data)
    assert len(padded) % 32 == 0 and len(padded) > len(data)
    assert pkcs7_unpad(padded) == data


@pytest.mark.parametrize("bad", ["", "not base64!", "QUJD", "A" * 44])
def test_garbage_ciphertext_is_a_crypto_error(bad: str) -> None:
    crypto = MessageCrypto(SAMPLE_TOKEN, SAMPLE_KEY, SAMPLE_APPID)
    with pytest.raises(CryptoError):
        crypto.decrypt(bad)


@pytest.mark.parametrize("key", ["short", "!" * 43, "a" * 44])
def test_bad_encoding_aes_key_is_refused(key: str) -> None:
    with pytest.raises(CryptoError):
        MessageCrypto("t", key, "wx")
