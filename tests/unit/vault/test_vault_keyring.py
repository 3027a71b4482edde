"""Envelope encryption of secrets at rest and key rotation without downtime."""

from __future__ import annotations

import base64

import pytest

from vault import KeyRing, VaultError

SECRET = b"s3cr3t-psp-private-key"
CONTEXT = b"secret:psp.private_key"


def _ring(*kids: str) -> KeyRing:
    return KeyRing.from_config(",".join(f"{kid}:{KeyRing.generate_key()}" for kid in kids))


def _flip_bit(token: str, part: int) -> str:
    """Flip one bit inside a token part, keeping it valid base64url."""
    parts = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(parts[part] + "=" * (-len(parts[part]) % 4)))
    raw[len(raw) // 2] ^= 0x01
    parts[part] = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    return ".".join(parts)


@pytest.fixture
def ring() -> KeyRing:
    return _ring("k1")


def test_round_trip(ring: KeyRing) -> None:
    token = ring.encrypt(SECRET, context=CONTEXT)

    assert ring.decrypt(token, context=CONTEXT) == SECRET


def test_round_trip_text_and_empty(ring: KeyRing) -> None:
    assert ring.decrypt_text(ring.encrypt_text("clé €")) == "clé €"
    assert ring.decrypt(ring.encrypt(b"")) == b""


def test_token_is_self_describing_ascii(ring: KeyRing) -> None:
    token = ring.encrypt(SECRET)

    version, kid, wrapped, data = token.split(".")
    assert (version, kid) == ("v1", "k1")
    assert token.isascii()
    assert SECRET not in token.encode()


def test_same_plaintext_encrypts_differently_each_time(ring: KeyRing) -> None:
    assert ring.encrypt(SECRET) != ring.encrypt(SECRET)


@pytest.mark.parametrize("part", [2, 3], ids=["wrapped_key", "data"])
def test_tampered_token_is_refused(ring: KeyRing, part: int) -> None:
    token = ring.encrypt(SECRET, context=CONTEXT)

    with pytest.raises(VaultError) as excinfo:
        ring.decrypt(_flip_bit(token, part), context=CONTEXT)

    assert excinfo.value.code == "vault_token_tampered"
    assert SECRET.decode() not in str(excinfo.value)


def test_token_relabelled_with_another_kid_is_refused() -> None:
    ring = _ring("k1", "k2")
    token = ring.encrypt(SECRET)

    with pytest.raises(VaultError, match="'k2'"):
        ring.decrypt(token.replace("v1.k1.", "v1.k2.", 1))


def test_ring_without_the_kid_names_it() -> None:
    token = _ring("old").encrypt(SECRET)

    with pytest.raises(VaultError, match="'old'") as excinfo:
        _ring("new").decrypt(token)

    assert excinfo.value.code == "vault_unknown_key"
    assert "'new'" in str(excinfo.value)


@pytest.mark.parametrize(
    "token",
    ["", "v1.k1", "v2.k1.AAAA.AAAA", "v1.k1.not base64!.AAAA", "v1.k1.AAAA.AAAA", "garbage"],
)
def test_malformed_token_is_refused(ring: KeyRing, token: str) -> None:
    with pytest.raises(VaultError, match="malformed"):
        ring.decrypt(token)


def test_context_binds_secret_to_its_row(ring: KeyRing) -> None:
    token = ring.encrypt(SECRET, context=b"secret:psp.private_key")

    with pytest.raises(VaultError) as excinfo:
        ring.decrypt(token, context=b"secret:crm.refresh_token")

    assert SECRET.decode() not in str(excinfo.value)
    with pytest.raises(VaultError):
        ring.decrypt(token)


def test_rotation_without_downtime() -> None:
    k1 = KeyRing.generate_key()
    k2 = KeyRing.generate_key()
    before = KeyRing.from_config(f"k1:{k1}")
    old_token = before.encrypt(SECRET, context=CONTEXT)

    # Step 1: the new key goes first, the old one stays for decryption.
    during = KeyRing.from_config(f"k2:{k2},k1:{k1}")
    assert during.active_kid == "k2"
    assert during.decrypt(old_token, context=CONTEXT) == SECRET
    assert during.needs_rotation(old_token)
    assert not during.needs_rotation(during.encrypt(SECRET))

    # Step 2: rewrap moves the token to k2 without re-encrypting the data.
    new_token = during.rewrap(old_token, context=CONTEXT)
    assert new_token.split(".")[1] == "k2"
    assert new_token.split(".")[3] == old_token.split(".")[3]
    assert not during.needs_rotation(new_token)

    # Step 3: the old key can go.
    after = KeyRing.from_config(f"k2:{k2}")
    assert after.decrypt(new_token, context=CONTEXT) == SECRET
    with pytest.raises(VaultError, match="'k1'"):
        after.decrypt(old_token, context=CONTEXT)


def test_rewrap_of_current_token_is_a_no_op() -> None:
    ring = _ring("k1")
    token = ring.encrypt(SECRET)

    assert ring.rewrap(token) == token


def test_rewrap_with_wrong_context_fails() -> None:
    old = _ring("k1")
    token = old.encrypt(SECRET, context=CONTEXT)
    rotated = old.with_new_active("k2", KeyRing.generate_key())

    with pytest.raises(VaultError):
        rotated.rewrap(token, context=b"secret:other")


def test_with_new_active_keeps_old_keys() -> None:
    old = _ring("k1")
    token = old.encrypt(SECRET)

    rotated = old.with_new_active("k2", KeyRing.generate_key())

    assert rotated.kids == ("k2", "k1")
    assert rotated.decrypt(rotated.rewrap(token)) == SECRET
    assert old.kids == ("k1",)


def test_with_new_active_refuses_reused_kid_with_other_key() -> None:
    with pytest.raises(VaultError, match="already in the key ring"):
        _ring("k1").with_new_active("k1", KeyRing.generate_key())


def test_cannot_retire_the_active_key() -> None:
    ring = _ring("k2", "k1")

    assert ring.without("k1").kids == ("k2",)
    with pytest.raises(VaultError, match="active key"):
        ring.without("k2")


def test_config_round_trip() -> None:
    ring = _ring("a", "b")
    token = ring.encrypt(SECRET)

    again = KeyRing.from_config(ring.to_config())

    assert again.kids == ("a", "b")
    assert again.decrypt(token) == SECRET


def test_generate_key_is_32_random_bytes() -> None:
    key = KeyRing.generate_key()

    assert len(base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))) == 32
    assert key != KeyRing.generate_key()


def test_repr_does_not_show_keys() -> None:
    key = KeyRing.generate_key()
    ring = KeyRing.from_config(f"k1:{key}")

    assert key not in repr(ring)
    assert "k1" in repr(ring)


def test_config_entry_without_kid_is_explained_without_echoing_it() -> None:
    bare_key = KeyRing.generate_key()

    with pytest.raises(VaultError, match="CRM_PAY_VAULT_KEYS entry #2 is not kid:base64key") as ei:
        KeyRing.from_config(f"k1:{KeyRing.generate_key()},{bare_key}")

    assert bare_key not in str(ei.value)
    assert isinstance(ei.value, ValueError)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "holds no keys"),
        (" , ", "holds no keys"),
        ("k1:" + base64.urlsafe_b64encode(b"short").decode(), "exactly 32 bytes"),
        ("k1:***", "not valid base64url"),
        ("bad.kid:" + "A" * 43, "key id 'bad.kid' is invalid"),
    ],
)
def test_config_errors_say_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(VaultError, match=message) as excinfo:
        KeyRing.from_config(spec)

    assert excinfo.value.code == "vault_config"


def test_duplicate_kid_is_refused() -> None:
    with pytest.raises(VaultError, match="twice"):
        KeyRing.from_config(f"k1:{KeyRing.generate_key()},k1:{KeyRing.generate_key()}")


def test_whitespace_and_trailing_comma_are_tolerated() -> None:
    spec = f" k1 : {KeyRing.generate_key()} ,\n k0:{KeyRing.generate_key()},"

    assert KeyRing.from_config(spec).kids == ("k1", "k0")
