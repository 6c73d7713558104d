"""The deployed environment's measure of OPS_JWT_SECRET_KEY: a key must be one that a random generator made."""

import base64
import hashlib
import secrets
import time

import pytest

from ops_api.config import TESTING_JWT_SECRET_KEY, secret_weakness

PUBLISHED = TESTING_JWT_SECRET_KEY


def _changed(text: str, positions: tuple[int, ...]) -> str:
    """``text`` with the letter at each position replaced by another letter."""
    chars = list(text)
    for position in positions:
        chars[position] = "q" if chars[position] != "q" else "z"
    return "".join(chars)


@pytest.mark.parametrize(
    "variant",
    [
        PUBLISHED,
        PUBLISHED.upper(),
        PUBLISHED.title(),
        PUBLISHED[::-1],
        PUBLISHED.upper()[::-1],
        "x" + PUBLISHED,
        PUBLISHED + "-1",
        PUBLISHED + "xyz",
        PUBLISHED[1:],
        PUBLISHED[:-3],
        _changed(PUBLISHED, (0,)),
        _changed(PUBLISHED, (3, 20, 40)),
        PUBLISHED.upper()[::-1] + "!",
        secrets.token_urlsafe(24) + PUBLISHED + secrets.token_urlsafe(24),
    ],
    ids=lambda variant: f"{len(variant)} characters",
)
def test_a_published_secret_case_folded_reversed_or_within_three_edits_is_refused(variant):
    assert "published in this project's source" in secret_weakness(variant)


@pytest.mark.parametrize("word", [b"password", b"admin", b"changeme", b"letmein", b"qwerty"])
@pytest.mark.parametrize("digest", ["md5", "sha1", "sha256", "sha512"])
def test_the_hex_digest_of_a_common_password_is_refused(word, digest):
    written = hashlib.new(digest, word).hexdigest()
    assert secret_weakness(written) == "is the hash of a common password, which is as easy to guess as the password"
    assert secret_weakness(written.upper()) == secret_weakness(written)


@pytest.mark.parametrize(
    "written",
    [
        hashlib.sha256(b"password\n").hexdigest(),  # echo password | sha256sum
        base64.b64encode(hashlib.sha256(b"admin").digest()).decode(),  # openssl dgst -binary | base64
        base64.urlsafe_b64encode(hashlib.sha256(b"changeme").digest()).decode().rstrip("="),
        hashlib.sha384(b"secret").hexdigest(),
        hashlib.sha224(b"welcome").hexdigest(),
    ],
)
def test_the_digest_of_a_common_password_is_refused_however_it_is_written(written):
    assert "hash of a common password" in secret_weakness(written)


@pytest.mark.parametrize(
    "typed",
    [
        "changeme-changeme-changeme-changeme!",
        "Tr0ub4dor&3Tr0ub4dor&3Tr0ub4dor&3",
        "correct horse battery staple correct horse",
        "ünïcödé-ünïcödé-ünïcödé-ünïcödé-ünïcödé",
        "k9#Lm$2pQ!x7&Rt@4vW^8zY*3nB%6hJ(",
    ],
)
def test_a_secret_with_characters_no_key_encoding_uses_is_refused_as_not_generated(typed):
    assert secret_weakness(typed).startswith("is not written the way generated keys are")


@pytest.mark.parametrize(
    ("weak", "reason"),
    [
        ("qwertyuiopasdfghjklzxcvbnm1234567890", "rows of the keyboard"),
        ("1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p", "columns of the keyboard"),
        ("abcdefghijklmnopqrstuvwxyz0123456789", "along the alphabet"),
        ("changemechangemechangemechangeme", "repeats itself"),
        ("Password123Password123Password123", "repeats itself"),
        ("the-quick-brown-fox-jumps-over-the-lazy-dog", "too few upper-case letters"),
        ("my_super_secret_jwt_key_for_the_ops_api_prod", "too few upper-case letters"),
        ("cOrReCtHoRsEbAtTeRyStApLeCoRrEcThOrSe", "case in a pattern"),
        (base64.b64encode(b"ops-production-jwt-signing-key-2026").decode(), "encodes text"),
        (b"ops-production-jwt-signing-key".hex(), "encodes text"),
    ],
)
def test_a_key_far_from_what_a_generator_makes_is_refused_saying_how(weak, reason):
    weakness = secret_weakness(weak)
    assert weakness.startswith("is not random: it ") and reason in weakness
    assert "less than once in 10^10" in weakness


@pytest.mark.parametrize(
    "weak",
    [
        "OpsProductionSigningKeyHHS2026DoNotShareOpsProd",
        "ThisIsMyVerySecretJwtSigningKeyForProduction2026",
        "MangoTulipViolinGlacierPepperOrbitCanyonVelvet",
        "xK9pL2qR7mN4vB8wxK9pL2qR7mN4vB8w",
        "deadbeefdeadbeefcafebabecafebabe0123456789abcdef",
    ],
)
def test_words_and_repeats_that_look_almost_random_are_measured_by_zxcvbn_and_refused(weak):
    weakness = secret_weakness(weak)
    assert weakness.startswith("has ") and "password guessers try first (zxcvbn estimates about 10^" in weakness


def test_a_random_key_holding_a_common_word_is_measured_by_zxcvbn_and_accepted():
    key = secrets.token_urlsafe(24) + "Garden" + secrets.token_urlsafe(24)
    assert secret_weakness(key) is None


@pytest.mark.parametrize(
    "make",
    [
        lambda: secrets.token_hex(32).upper(),
        lambda: base64.b64encode(secrets.token_bytes(32)).decode(),  # openssl rand -base64 32, padded
        lambda: base64.urlsafe_b64encode(secrets.token_bytes(40)).decode(),
        lambda: secrets.token_urlsafe(300),
        lambda: secrets.token_hex(500),
    ],
    ids=["upper-case hex", "padded base64", "padded base64url", "400 characters", "1,000 characters"],
)
def test_generated_keys_of_other_shapes_and_lengths_are_accepted(make):
    refused = [key for key in (make() for _ in range(200)) if secret_weakness(key) is not None]
    assert refused == []


def test_a_very_long_secret_is_measured_in_bounded_time():
    started = time.perf_counter()
    assert secret_weakness(secrets.token_urlsafe(75_000)) is None
    assert secret_weakness("Ab3-" * 25_000) is not None
    assert time.perf_counter() - started < 2
