"""Whether a signing key is fit for a deployed environment: it must be a key that a random generator made.

A key is checked as what it claims to be, cheapest check first:

1. It is not, does not contain, and is not within MAX_EDITS_FROM_PUBLISHED edits
   of a secret published in the source (case ignored, read forwards or backwards).
2. It is written as generators write keys: hex, or base64 / base64url.
3. It is not the digest of a common password (zxcvbn's list), read as hex or base64.
4. Its characters behave like independent, uniform draws. Each statistic has an
   exact distribution for a random key, so a refusal has a known false-refusal
   probability: below REFUSE_BELOW for each statistic.
5. A key that is unusual on some statistic (below MEASURE_BELOW), or holds the
   start of a common word of six letters or more, is measured by zxcvbn, which
   looks for words, keyboard runs, sequences, repeats and dates: it must find
   next to nothing that a guesser could use.

zxcvbn takes 15 to 25 ms for a 64-character key, so it runs only for the few
keys that step 5 names (at most about 1 random key in 300); a random key passes steps
1 to 4 in about 0.1 ms. No answer ever contains the key.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import math
import re
import string
from collections.abc import Iterable
from typing import NamedTuple

# How to make a key; the refusal and the README say so.
GENERATE_KEY_COMMAND = 'python3 -c "import secrets; print(secrets.token_urlsafe(48))"'
MAX_EDITS_FROM_PUBLISHED = 3
# A statistic this unlikely for a random key refuses it outright. A base64 key is
# judged on 16 such tails, so a random key is refused less than once in 10^8.
REFUSE_BELOW = 1e-10
# A statistic this unlikely sends the key to zxcvbn (about 1 random key in 2,000).
MEASURE_BELOW = 1e-4
# zxcvbn's brute-force estimate is one decimal digit of guesses per character, so
# a key in which it finds nothing scores about 10^length. Of 3.5 million random
# keys (hex of 16 and 32 bytes, base64url of 24 and 48), the 2,100 that reached
# zxcvbn kept at least 0.79 of their length in digits (digit-heavy hex, where it
# sees dates), most of them over 0.92; most keys made of words or runs keep 0.3
# to 0.72 (a CamelCase phrase of uncommon words can keep 0.8 and pass).
MIN_ZXCVBN_DIGITS_PER_CHARACTER = 0.75
# Words a person naming this application's key reaches for; zxcvbn ranks them
# first (its user_inputs), as a guesser who knows the target would.
PROJECT_WORDS = tuple("ops opre hhs acf jwt secret key signing token production prod staging deploy api auth".split())
# The statistics read the first 256 characters, zxcvbn its own limit of 72: a
# prefix of a random key is random, and a longer key is never easier to guess.
MAX_MEASURED_CHARACTERS = 256
MAX_ZXCVBN_CHARACTERS = 72
# Words this long are rare by chance in a random key, common in a typed one.
COMMON_WORD_PREFIX = 6

_HEX = "0123456789abcdef"
_LETTERS_AND_DIGITS = frozenset(string.ascii_letters + string.digits)
_MARKS = {"base64url": "-_", "base64": "+/"}
# Orders of the letters and digits in which a person's runs are small steps:
# counting (abc, 123, cba), the keyboard's rows (qwerty, asdf) and its columns
# (1qaz, 2wsx). A base64 key's two marks close each order.
_BASE64_ORDERS = {
    "runs along the alphabet or counts (abc..., 123...)": string.digits + string.ascii_lowercase + string.ascii_uppercase,
    "runs along rows of the keyboard (qwerty..., asdf...)": "1234567890qwertyuiopasdfghjklzxcvbnmQWERTYUIOPASDFGHJKLZXCVBNM",
    "runs down columns of the keyboard (1qaz..., 2wsx...)": "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0pQAZWSXEDCRFVTGBYHNUJMIKOLP",
}
# Steps of at most this size, either way, in one of those orders count as a run.
_RUN_STEP = 2
# Digest sizes in bytes and the hashes that give them.
_DIGESTS_BY_SIZE = {16: ("md5",), 20: ("sha1",), 28: ("sha224",), 32: ("sha256",), 48: ("sha384",), 64: ("sha512",)}
_PRINTABLE_BYTES = frozenset(range(0x20, 0x7F))


class _Finding(NamedTuple):
    probability: float  # how likely a random key is to look at least this unusual
    reason: str


def key_weakness(secret: str, published: Iterable[str]) -> str | None:
    """Why ``secret`` is unfit to sign tokens in a deployed environment (a phrase without the secret), or None."""
    if _near_a_published_secret(secret, published):
        return "is, contains or is a few characters from a secret published in this project's source"
    encoding = _encoding(secret)
    if encoding is None:
        return "is not written the way generated keys are (hex, or base64 of A-Z a-z 0-9 with - _ or + /)"
    decoded = _decoded(secret, encoding)
    if len(decoded) in _DIGESTS_BY_SIZE and decoded in _common_password_digests(len(decoded)):
        return "is the hash of a common password, which is as easy to guess as the password"
    symbols = secret.rstrip("=")[:MAX_MEASURED_CHARACTERS]
    if encoding == "hex":
        findings = _hex_findings(symbols.lower())
    else:
        findings = _base64_findings(symbols, _MARKS[encoding])
    findings.append(_text_finding(decoded[:MAX_MEASURED_CHARACTERS]))
    least_likely = min(findings)
    if least_likely.probability < REFUSE_BELOW:
        return f"is not random: it {least_likely.reason}, which a random key does less than once in 10^10"
    if least_likely.probability < MEASURE_BELOW or _has_common_word(symbols):
        return _zxcvbn_weakness(symbols[:MAX_ZXCVBN_CHARACTERS])
    return None


def _near_a_published_secret(secret: str, published: Iterable[str]) -> bool:
    candidate = secret.casefold()
    for known in published:
        known = known.casefold()
        for form in (candidate, candidate[::-1]):
            if known in form or _within_edits(form, known, MAX_EDITS_FROM_PUBLISHED):
                return True
    return False


def _within_edits(first: str, second: str, limit: int) -> bool:
    """Whether at most ``limit`` one-character insertions, deletions or substitutions turn one string into the other."""
    if abs(len(first) - len(second)) > limit:
        return False
    previous = list(range(len(second) + 1))  # Levenshtein distances from the empty prefix of first
    for row, char in enumerate(first, start=1):
        current = [row]
        for column, other in enumerate(second, start=1):
            current.append(min(previous[column] + 1, current[column - 1] + 1, previous[column - 1] + (char != other)))
        if min(current) > limit:
            return False
        previous = current
    return previous[-1] <= limit


def _encoding(secret: str) -> str | None:
    """The alphabet ``secret`` is written in: "hex", "base64url" or "base64"; None for any other."""
    if all(c in _HEX for c in secret) or all(c in _HEX.upper() for c in secret):
        return "hex"
    body = secret.rstrip("=")
    characters = set(body)
    if len(secret) - len(body) > 2 or not characters <= _LETTERS_AND_DIGITS | set("-_+/"):
        return None
    if characters & set("-_") and characters & set("+/"):
        return None
    return "base64" if characters & set("+/") else "base64url"


def _decoded(secret: str, encoding: str) -> bytes:
    """The bytes that ``secret`` writes, up to its last whole byte."""
    body = secret.rstrip("=")
    if encoding == "hex":
        return bytes.fromhex(body[: len(body) // 2 * 2])
    whole = body[: len(body) // 4 * 4] if len(body) % 4 == 1 else body  # a lone last character holds no whole byte
    return base64.b64decode(whole + "=" * (-len(whole) % 4), altchars=_MARKS[encoding].encode())


@functools.cache
def _common_password_digests(size: int) -> frozenset[bytes]:
    """The digests of ``size`` bytes of zxcvbn's 30,000 most common passwords, as typed and with the
    newline that ``echo word | sha256sum`` adds. Built on first need: about 35 ms and 6 MB for one size."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    words = [word.encode() for word in FREQUENCY_LISTS["passwords"]]
    return frozenset(
        hashlib.new(name, word + ending).digest()
        for name in _DIGESTS_BY_SIZE[size]
        for word in words
        for ending in (b"", b"\n")
    )


@functools.cache
def _common_word_prefixes() -> frozenset[str]:
    """The first COMMON_WORD_PREFIX letters of every word that long or longer in zxcvbn's lists (about 44,000)."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(
        word[:COMMON_WORD_PREFIX]
        for words in FREQUENCY_LISTS.values()
        for word in words
        if len(word) >= COMMON_WORD_PREFIX and word.isascii() and word.isalpha()
    )


def _has_common_word(symbols: str) -> bool:
    folded = symbols.lower()
    prefixes = _common_word_prefixes()
    return any(folded[i : i + COMMON_WORD_PREFIX] in prefixes for i in range(len(folded) - COMMON_WORD_PREFIX + 1))


def _hex_findings(symbols: str) -> list[_Finding]:
    return [
        *_class_findings(symbols, {"letters a-f": frozenset("abcdef")}, 16),
        _distinct_finding(symbols, 16),
        _run_finding(symbols, _HEX, "runs along the alphabet or counts (abc..., 123...)"),
    ]


def _base64_findings(symbols: str, marks: str) -> list[_Finding]:
    classes = {
        "letters": frozenset(string.ascii_letters),
        "digits": frozenset(string.digits),
        f"{marks[0]} or {marks[1]}": frozenset(marks),
    }
    return [
        *_class_findings(symbols, classes, 64),
        _distinct_finding(symbols, 64),
        *(_run_finding(symbols, order + marks, reason) for reason, order in _BASE64_ORDERS.items()),
        *_case_findings(symbols),
    ]


def _class_findings(symbols: str, classes: dict[str, frozenset[str]], alphabet_size: int) -> list[_Finding]:
    """Each class's count against its binomial distribution, both ways."""
    findings = []
    for name, members in classes.items():
        count = sum(c in members for c in symbols)
        below, above = _binomial_tails(len(symbols), len(members), alphabet_size, count)
        findings += [_Finding(below, f"has too few {name}"), _Finding(above, f"has too many {name}")]
    return findings


def _distinct_finding(symbols: str, alphabet_size: int) -> _Finding:
    """How many different characters, both ways: repeats have too few, runs along the keyboard too many."""
    below, above = _distinct_tails(len(symbols), alphabet_size, len(set(symbols)))
    if below <= above:
        return _Finding(below, "repeats itself (it has too few different characters)")
    return _Finding(above, "hardly repeats a character, as runs along the keyboard do")


def _run_finding(symbols: str, order: str, reason: str) -> _Finding:
    """Small steps between neighbours in ``order``. For independent uniform draws the steps, taken
    around the order as a circle, are themselves independent and uniform, so their count is binomial."""
    size = len(order)
    position = {c: i for i, c in enumerate(order)}
    steps = [(position[b] - position[a]) % size for a, b in zip(symbols, symbols[1:], strict=False)]
    small = sum(step <= _RUN_STEP or step >= size - _RUN_STEP for step in steps)
    _, above = _binomial_tails(len(steps), 2 * _RUN_STEP + 1, size, small)
    return _Finding(above, reason)


def _case_findings(symbols: str) -> list[_Finding]:
    """A random letter's case is a fair coin, whatever the other letters are: so are the upper-case
    letters among all letters, and neighbouring letters in the same case, both binomial with p = 1/2.
    Words are mostly in lower case, and keep one case within a word."""
    letters = [c for c in symbols if c in string.ascii_letters]
    upper = sum(c.isupper() for c in letters)
    fewer_upper, more_upper = _binomial_tails(len(letters), 1, 2, upper)
    pairs = same = 0
    for a, b in zip(symbols, symbols[1:], strict=False):
        if a in string.ascii_letters and b in string.ascii_letters:
            pairs += 1
            same += a.isupper() == b.isupper()
    alternating, keeping = _binomial_tails(pairs, 1, 2, same)
    return [
        _Finding(fewer_upper, "has too few upper-case letters"),
        _Finding(more_upper, "has too few lower-case letters"),
        _Finding(alternating, "changes between upper and lower case in a pattern"),
        _Finding(keeping, "keeps neighbouring letters in one case, as words do"),
    ]


def _text_finding(decoded: bytes) -> _Finding:
    """Printable bytes among the key's bytes: about 37% of random bytes, nearly all of encoded text."""
    printable = sum(byte in _PRINTABLE_BYTES for byte in decoded)
    _, above = _binomial_tails(len(decoded), len(_PRINTABLE_BYTES), 256, printable)
    return _Finding(above, "encodes text, not random bytes")


@functools.cache
def _binomial_tails(trials: int, numerator: int, denominator: int, count: int) -> tuple[float, float]:
    """P(X <= count) and P(X >= count) for X ~ Binomial(trials, numerator / denominator)."""
    p = numerator / denominator
    pmf = [math.comb(trials, k) * p**k * (1 - p) ** (trials - k) for k in range(trials + 1)]
    return min(1.0, sum(pmf[: count + 1])), min(1.0, sum(pmf[count:]))


@functools.cache
def _distinct_distribution(draws: int, alphabet_size: int) -> tuple[float, ...]:
    """P(exactly d different symbols) after ``draws`` uniform draws from ``alphabet_size`` symbols, for each d."""
    distribution = [1.0] + [0.0] * alphabet_size
    for _ in range(draws):
        following = [0.0] * (alphabet_size + 1)
        for seen, probability in enumerate(distribution):
            if probability:
                following[seen] += probability * seen / alphabet_size
                if seen < alphabet_size:
                    following[seen + 1] += probability * (alphabet_size - seen) / alphabet_size
        distribution = following
    return tuple(distribution)


def _distinct_tails(draws: int, alphabet_size: int, distinct: int) -> tuple[float, float]:
    distribution = _distinct_distribution(draws, alphabet_size)
    return min(1.0, sum(distribution[: distinct + 1])), min(1.0, sum(distribution[distinct:]))


# zxcvbn's names for what it finds, in the words of a refusal.
_ZXCVBN_PATTERNS = {
    "dictionary": "common words",
    "spatial": "keyboard runs",
    "sequence": "sequences",
    "repeat": "repeats",
    "regex": "years",
    "date": "dates",
}
# Marks split a key into runs that zxcvbn measures one by one, as a guesser takes
# a passphrase word by word; measured whole, zxcvbn counts each mark as a fresh
# pattern and rates "the-quick-brown-fox-jumps-over-the-lazy-dog" above 10^38.
_MARK_RUNS = re.compile(r"[-_+/]+")


def _zxcvbn_weakness(symbols: str) -> str | None:
    from zxcvbn import zxcvbn

    digits = float(len(symbols) - len("".join(_MARK_RUNS.split(symbols))))  # one digit per mark
    found: set[str] = set()
    for run in filter(None, _MARK_RUNS.split(symbols)):
        result = zxcvbn(run, user_inputs=list(PROJECT_WORDS), max_length=MAX_ZXCVBN_CHARACTERS)
        digits += result["guesses_log10"]
        found |= {_ZXCVBN_PATTERNS[m["pattern"]] for m in result["sequence"] if m["pattern"] in _ZXCVBN_PATTERNS}
    if digits >= MIN_ZXCVBN_DIGITS_PER_CHARACTER * len(symbols):
        return None
    kinds = ", ".join(sorted(found)) or "patterns"
    return (
        f"has {kinds} that password guessers try first (zxcvbn estimates about 10^{int(digits)} guesses; "
        f"a random key of its length needs about 10^{len(symbols)})"
    )
