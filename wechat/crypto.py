"""WeChat push signatures and the safe-mode (安全模式) message encryption.

As documented for the Official Account platform (消息加解密说明):
- plain signature = sha1 of the sorted, concatenated (token, timestamp, nonce);
- msg_signature    = sha1 of the sorted, concatenated (token, timestamp, nonce, Encrypt);
- AESKey = base64decode(EncodingAESKey + "="), 32 bytes; AES-256-CBC, IV = the key's first 16 bytes;
- plaintext = random(16 B) + len(msg) as 4 bytes network order + msg + appid, PKCS#7 padded to 32.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct
from collections.abc import Callable

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 32  # WeChat pads to 32 bytes, not AES's 16


class CryptoError(Exception):
    """A push that is not from WeChat or cannot be read: refuse it, change nothing."""


class SignatureError(CryptoError):
    pass


class AppIdError(CryptoError):
    pass


def signature(*parts: str) -> str:
    """sha1 hex of the lexicographically sorted parts joined with nothing."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def check_signature(token: str, sig: str, timestamp: str, nonce: str) -> bool:
    # compare_digest: a timing difference must not reveal how much of a forged signature matched
    return hmac.compare_digest(signature(token, timestamp, nonce), sig.lower())


def pkcs7_pad(data: bytes, block: int = BLOCK) -> bytes:
    n = block - len(data) % block
    return data + bytes([n]) * n


def pkcs7_unpad(data: bytes, block: int = BLOCK) -> bytes:
    if not data:
        raise CryptoError("empty plaintext")
    n = data[-1]
    if not 1 <= n <= block or data[-n:] != bytes([n]) * n:
        raise CryptoError("bad padding")
    return data[:-n]


def aes_key(encoding_aes_key: str) -> bytes:
    if len(encoding_aes_key) != 43:
        raise CryptoError("EncodingAESKey must have 43 characters")
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CryptoError("EncodingAESKey is not base64") from exc
    if len(key) != 32:
        raise CryptoError("EncodingAESKey does not decode to 32 bytes")
    return key


class MessageCrypto:
    """One account's token, key and appid; encrypts replies and decrypts pushes."""

    def __init__(
        self,
        token: str,
        encoding_aes_key: str,
        app_id: str,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self.token = token
        self.key = aes_key(encoding_aes_key)
        self.app_id = app_id
        self._random = random_bytes  # a fixed one reproduces the published vectors

    def _cipher(self) -> Cipher:
        return Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16]))

    def encrypt(self, plaintext: str) -> str:
        msg = plaintext.encode()
        raw = self._random(16) + struct.pack(">I", len(msg)) + msg + self.app_id.encode()
        enc = self._cipher().encryptor()
        return base64.b64encode(enc.update(pkcs7_pad(raw)) + enc.finalize()).decode()

    def decrypt(self, encrypted: str) -> str:
        try:
            data = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise CryptoError("Encrypt is not base64") from exc
        if not data or len(data) % 16:
            raise CryptoError("ciphertext length")
        dec = self._cipher().decryptor()
        raw = pkcs7_unpad(dec.update(data) + dec.finalize())
        if len(raw) < 20:
            raise CryptoError("plaintext too short")
        (length,) = struct.unpack(">I", raw[16:20])
        if 20 + length > len(raw):
            raise CryptoError("length beyond the plaintext")
        msg, app_id = raw[20 : 20 + length], raw[20 + length :]
        if not hmac.compare_digest(app_id, self.app_id.encode()):
            raise AppIdError("appid does not match")
        try:
            return msg.decode()
        except UnicodeDecodeError as exc:
            raise CryptoError("plaintext is not UTF-8") from exc

    def msg_signature(self, timestamp: str, nonce: str, encrypted: str) -> str:
        return signature(self.token, timestamp, nonce, encrypted)

    def open(self, msg_sig: str, timestamp: str, nonce: str, encrypted: str) -> str:
        """Check msg_signature, then decrypt: the safe-mode push as WeChat sent it."""
        if not hmac.compare_digest(
            self.msg_signature(timestamp, nonce, encrypted), msg_sig.lower()
        ):
            raise SignatureError("msg_signature does not match")
        return self.decrypt(encrypted)

    def seal(self, plaintext: str, timestamp: str, nonce: str) -> str:
        """The encrypted passive reply, as the XML envelope WeChat expects."""
        encrypted = self.encrypt(plaintext)
        sig = self.msg_signature(timestamp, nonce, encrypted)
        return (
            f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt>"
            f"<MsgSignature><![CDATA[{sig}]]></MsgSignature>"
            f"<TimeStamp>{timestamp}</TimeStamp>"
            f"<Nonce><![CDATA[{nonce}]]></Nonce></xml>"
        )
