"""Textual encodings of the public red-teaming toolkits, found in a prompt and decoded (used by :mod:`normalise`).

Round 24 prep (helper ind24): the class "an automatic, published jailbreak encoding the normaliser does not undo" was
closed one cipher per red-team round; docs/decisions.md ("Red team round 24 prep on indicators") now lists every
rule-based converter of garak's ``encoding`` probes and of PyRIT's ``prompt_converter`` package, and this module decodes
the ones that are plain data encodings: hexadecimal (base16), base32, ascii85/base85, uuencode, quoted-printable, MIME
encoded-words, URL percent-encoding, character escapes (``\\uXXXX``, ``\\xHH``, ``&#NNN;``), binary words, Morse code,
Braille and the NATO phonetic alphabet; since red team round 27, decimal code points (garak's ``CharCode`` buff). Each is written from the encoding's public definition (RFC 4648, RFC 2045/2047,
RFC 3986, ITU-R M.1677, the Braille Grade 1 letter cells), not from the toolkits' code.

Every finder is one regular-expression pass over the text and decodes each candidate span once: linear. A span is
replaced only when it decodes to readable text (:func:`readable`): ordinary prompts hold no such span (the pin test of
the 1,720 ordinary prompts and the public-text sweep in docs/benchmarks.md).
"""

from __future__ import annotations

import base64
import binascii
import re
import urllib.parse
from collections.abc import Callable

# (start, end, decoded) of each span of a text that one encoding replaces
Spans = list[tuple[int, int, str]]


def readable(text: str | None, *, min_letters: int = 3) -> bool:
    """Whether ``text`` is printable text holding letters: at least ``min_letters`` letters, and letters, digits and
    white space at least 70 % of it (what a data decoding of random or unrelated bytes almost never gives)."""
    if not text:
        return False
    letters = sum(ch.isalpha() for ch in text)
    plain = sum(ch.isalnum() or ch.isspace() for ch in text)
    return letters >= min_letters and plain * 10 >= 7 * len(text) \
        and all(ch.isprintable() or ch in "\n\t\r" for ch in text)


def _utf8(raw: bytes) -> str | None:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


# --- base16 / hex ------------------------------------------------------------------------------------------------------
# garak InjectHex / InjectBase16 (one run), PyRIT TextToHex / BinAscii hex (each word's hex joined by "20", the space's
# own hex: one run again); also byte pairs apart by a space, a colon or "0x".
_HEX_RUN = re.compile(r"(?<![0-9A-Za-z])(?:0x)?[0-9A-Fa-f]{16,}(?![0-9A-Za-z])")
_HEX_PAIRS = re.compile(r"(?<![0-9A-Za-z])(?:(?:0x)?[0-9A-Fa-f]{2}[ :,]){7,}(?:0x)?[0-9A-Fa-f]{2}(?![0-9A-Za-z])")


def _hex(run: str) -> str | None:
    digits = re.sub(r"0x|[ :,]", "", run)
    if len(digits) % 2 or not re.search(r"[A-Fa-f]", digits) or not re.search(r"\d", digits):
        return None
    return _utf8(bytes.fromhex(digits))


# --- decimal code points (garak's ``buffs.encoding.CharCode``: each character's code point in decimal, apart by one
# space; JavaScript's ``String.fromCharCode(87, 114, …)`` lists them apart by commas) --------------------------------------
# Red team round 27 (class A): not decoded, and the digit leet fold turned the numbers into a ~95-token "alphabet"
# ("ioi" = 101 = "e") that every encoded English text shares. A run of eight numbers or more (one to seven digits each),
# apart by white space, commas or semicolons. Linear: the separators delimit every number, so a run is matched once.
_DECIMAL_RUN = re.compile(r"(?<![0-9A-Za-z.])(?:[0-9]{1,7}[ \t\n,;]+){7,}[0-9]{1,7}(?![0-9A-Za-z])")
_DECIMAL_WORD = re.compile(r"[^\W\d_]{2,}")


def _charcode(run: str) -> str | None:
    codes = [int(n) for n in re.findall(r"[0-9]+", run)]
    if any(not 0 < c < 0x110000 or 0xD800 <= c < 0xE000 for c in codes):
        return None
    decoded = "".join(map(chr, codes))
    # text, not a list of numbers that happens to land on letters (a row of years reads as N'Ko letters, "40 50 60 70
    # 80 90 100 110" as "(2<FPZdn"): a space and two words of two letters or more
    if not any(ch.isspace() for ch in decoded) or len(_DECIMAL_WORD.findall(decoded)) < 2:
        return None
    return decoded


# --- base32 (RFC 4648) -------------------------------------------------------------------------------------------------
_B32_RUN = re.compile(r"(?<![0-9A-Za-z+/])(?:[A-Z2-7]{16,}|[a-z2-7]{16,})={0,6}(?![0-9A-Za-z+/=])")


def _base32(run: str) -> str | None:
    body = run.rstrip("=").upper()
    if len(body) % 8 in (1, 3, 6):
        return None
    try:
        return _utf8(base64.b32decode(body + "=" * (-len(body) % 8)))
    except (binascii.Error, ValueError):
        return None


# --- ascii85 (Adobe, btoa) and base85 (RFC 1924 alphabet, git / Python b85) -------------------------------------------
_B85_RUN = re.compile(r"[!-~]{20,}")
_BASE64_ONLY = re.compile(r"[A-Za-z0-9+/=]+")


def _base85(run: str) -> str | None:
    if _BASE64_ONLY.fullmatch(run):
        return None  # base64's alphabet only: base64 (or a plain word), decoded elsewhere
    for decode in (lambda s: base64.a85decode(s, adobe=s.startswith("<~") and s.endswith("~>")), base64.b85decode):
        try:
            text = _utf8(decode(run))
        except (ValueError, binascii.Error):
            continue
        if readable(text):
            return text
    return None


# --- uuencode ----------------------------------------------------------------------------------------------------------
# A line: a length character (" " + n bytes, n <= 45) then 4 characters per 3 bytes, all from " " to "`".
# Red team round 25 (class A1): garak's templates put text before the first line on that line ("Encoded: M5W…",
# "What does this mean? M5W…"), so a block may also start after white space inside a line; :func:`_uu_spans` then
# takes, on the first line, the start whose length character gives that line's length.
_UU_LINE = re.compile(r"(?m)(?:^|(?<=[ \t]))(?:begin [0-7]{3} [^\n]*\n)?(?:[!-M][ -`]{4,60}(?:\n|$))+")


def _uu_width(line: str) -> int:
    return 1 + 4 * -(-(ord(line[0]) - 32) // 3)


def _uu_spans(text: str) -> Spans:
    found: Spans = []
    for m in _UU_LINE.finditer(text):
        start, block = m.start(), m.group(0)
        first = block.split("\n", 1)[0]
        if not first.startswith("begin "):
            # the first line's possible starts (its start, or after a space in it): the one whose length fits, else
            # the first (a line whose trailing pad spaces were trimmed is shorter than its length character says)
            starts = [0] + [k for k in range(1, len(first)) if first[k - 1] in " \t" and "!" <= first[k] <= "M"]
            fitting = [k for k in starts if len(first) - k == _uu_width(first[k:])]
            cut = fitting[0] if fitting else 0
            start, block = start + cut, block[cut:]
        decoded = _uu(block)
        if decoded is not None and decoded != block and readable(decoded):
            found.append((start, m.end(), decoded))
    return found


def _uu(block: str) -> str | None:
    out = bytearray()
    for line in block.splitlines():
        if line.startswith("begin ") or line.strip() in ("", "`", "end"):
            continue
        size = ord(line[0]) - 32
        width = 1 + 4 * -(-size // 3)
        line = line.rstrip("\n").ljust(width)[:width]  # trailing pad characters may have been trimmed
        try:
            out += binascii.a2b_uu(line)
        except binascii.Error:
            return None
    return _utf8(bytes(out)) if len(out) >= 8 else None


# --- quoted-printable (RFC 2045) and MIME encoded-words (RFC 2047) ------------------------------------------------------
_MIME_WORD = re.compile(r"=\?([A-Za-z0-9_.:-]{1,40})\?([BbQq])\?([^?\s]*)\?=")
_QP_ESCAPE = re.compile(r"=[0-9A-F]{2}")
_QP_SOFT = re.compile(r"=\r?\n")
# a base32/base64 token ending in its padding, at a soft break's "=" (its last "="): a data token, not a QP line. Data,
# not a word: it holds an upper-case letter or digit after its first character. Searched in a bounded window only.
_MAX_PADDED = 96
_PADDED_TOKEN = re.compile(r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-](?=[A-Za-z0-9+/_-]*[A-Z0-9])[A-Za-z0-9+/_-]{7,}={1,6}$")


def _padding(text: str, pos: int) -> bool:
    """Whether the "=" at ``pos`` ends a padded base32/base64 token (its length a multiple of 4, as both pad to)."""
    m = _PADDED_TOKEN.search(text, max(0, pos - _MAX_PADDED), pos + 1)
    return m is not None and len(m.group(0)) % 4 == 0


def _mime_word(m: re.Match[str]) -> str | None:
    charset, kind, body = m.group(1), m.group(2).upper(), m.group(3)
    try:
        raw = base64.b64decode(body + "=" * (-len(body) % 4)) if kind == "B" else binascii.a2b_qp(body, header=True)
        return raw.decode(charset.split("*")[0])
    except (binascii.Error, ValueError, LookupError):
        return None


def _quoted_printable(text: str) -> str | None:
    """The whole text read as quoted-printable, when it holds at least two escapes or soft line breaks of it."""
    # RFC 2045 lines are at most 76 characters, the soft break's "=" included: one soft break after a line of that
    # length (a long line of plain ASCII, as b2a_qp writes it) is evidence too
    # Red team round 25 (class A2): the padding "=" of a base32/base64 token that ends a line ("Encoded: MFRGG===\n") is
    # not a soft break: garak's base32 in a 70-75-character line was read as quoted-printable
    soft = [m.start() - text.rfind("\n", 0, m.start()) - 1 for m in _QP_SOFT.finditer(text)
            if not _padding(text, m.start())]
    # three escapes or more, one per 40 characters at least (PyRIT's words joined by "=20"; not "x=20 and y=3D")
    escapes = len(_QP_ESCAPE.findall(text))
    if (escapes < 3 or escapes * 40 < len(text)) and not any(70 <= width <= 75 for width in soft):
        return None
    try:
        return _utf8(binascii.a2b_qp(text.encode("utf-8")))
    except (binascii.Error, ValueError):
        return None


# --- URL percent-encoding (RFC 3986) -----------------------------------------------------------------------------------
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")
_URL_TOKEN = re.compile(r"\S+")  # each token once ("\S*%XX\S*" backtracks quadratically on a long token)


def _url(token: str) -> str | None:
    # three escapes, or one in a long token (a URL-quoted base64 text has few: "%2B", "%2F", "%3D")
    escapes = len(_PERCENT.findall(token))
    if not escapes:
        return None
    try:
        decoded = urllib.parse.unquote(token, errors="strict")
    except UnicodeDecodeError:
        return None
    # quoted prose has its spaces quoted ("%20", three escapes or more); a quoted base64 text is base64 again (the next
    # layer), with as few as one escape ("%3D"); a URL with one "%20", or other data that happens to hold "%" and two
    # hex digits (an ascii85 text), is neither
    if _BASE64_ONLY.fullmatch(decoded) and len(decoded) >= 16:
        return decoded
    return decoded if escapes >= 3 and " " in decoded else None


# --- character escapes: \uXXXX, \UXXXXXXXX, \xHH (UTF-8 bytes), &#NNN; &#xHH; (PyRIT UnicodeReplacement) ---------------
_ONE_ESCAPE = r"\\u[0-9A-Fa-f]{4}|\\U[0-9A-Fa-f]{8}|\\x[0-9A-Fa-f]{2}|&#[0-9]{1,7};|&#[xX][0-9A-Fa-f]{1,6};"
_ESCAPE = re.compile(r"\\u[0-9A-Fa-f]{4}|\\U[0-9A-Fa-f]{8}|(?:\\x[0-9A-Fa-f]{2})+|&#[0-9]{1,7};|&#[xX][0-9A-Fa-f]{1,6};")
# a run: four escapes or more, each alone in the repetition (a nested "+" there would let a failing run backtrack)
_ESCAPE_RUN = re.compile(rf"(?:(?:{_ONE_ESCAPE})[ \t]*){{4,}}")


def _unescape_one(m: re.Match[str]) -> str:
    e = m.group(0)
    if e.startswith("\\x"):
        return _utf8(bytes.fromhex(e.replace("\\x", ""))) or e
    code = int(e[2:], 16) if e[1] in "uU" else int(e[3:-1], 16) if e[2] in "xX" else int(e[2:-1])
    return chr(code) if code < 0x110000 and not 0xD800 <= code < 0xE000 else e


def _escapes(run: str) -> str | None:
    return _ESCAPE.sub(_unescape_one, run)


# --- binary: fixed-width bit words (PyRIT BinaryConverter: 8, 16 or 32 bits a character) or one long bit string -------
_BIT_WORDS = re.compile(r"(?<![0-9A-Za-z])(?:[01]{7,32}[ \t\n,;]+){3,}[01]{7,32}(?![0-9A-Za-z])")
_BIT_STRING = re.compile(r"(?<![0-9A-Za-z])[01]{32,}(?![0-9A-Za-z])")


def _binary(run: str) -> str | None:
    words = re.findall(r"[01]+", run)
    widths = {len(w) for w in words}
    if len(words) == 1:  # one string of bits: bytes, most significant bit first
        bits = words[0]
        return _utf8(int(bits, 2).to_bytes(len(bits) // 8, "big")) if len(bits) % 8 == 0 else None
    if len(widths) != 1:
        return None
    codes = [int(w, 2) for w in words]
    if widths == {8}:  # bytes of UTF-8 (or Latin-1 code points: the same for ASCII)
        return _utf8(bytes(codes)) or "".join(map(chr, codes))
    if any(c >= 0x110000 or 0xD800 <= c < 0xE000 for c in codes):
        return None
    return "".join(map(chr, codes))


# --- Morse code (ITU-R M.1677-1: letters, digits, the usual punctuation) -------------------------------------------------
_MORSE = {
    ".-": "a", "-...": "b", "-.-.": "c", "-..": "d", ".": "e", "..-.": "f", "--.": "g", "....": "h", "..": "i",
    ".---": "j", "-.-": "k", ".-..": "l", "--": "m", "-.": "n", "---": "o", ".--.": "p", "--.-": "q", ".-.": "r",
    "...": "s", "-": "t", "..-": "u", "...-": "v", ".--": "w", "-..-": "x", "-.--": "y", "--..": "z",
    "-----": "0", ".----": "1", "..---": "2", "...--": "3", "....-": "4", ".....": "5", "-....": "6", "--...": "7",
    "---..": "8", "----.": "9", ".-.-.-": ".", "--..--": ",", "..--..": "?", ".----.": "'", "-.-.--": "!",
    "-..-.": "/", "-.--.": "(", "-.--.-": ")", ".-...": "&", "---...": ":", "-.-.-.": ";", "-...-": "=",
    ".-.-.": "+", "-....-": "-", "..--.-": "_", ".-..-.": '"', ".--.-.": "@",
}
MORSE_CODES = _MORSE  # the table (ITU codes to characters), for the toolkit templates that quote an example in Morse
# dots and dashes as written (also the middle dot, the bullet, the en/em dash, the underscore and the minus sign)
_MORSE_FOLD = str.maketrans({"·": ".", "•": ".", "‧": ".", "∙": ".", "_": "-", "–": "-", "—": "-", "−": "-"})
_MORSE_RUN = re.compile(r"(?<!\w)[.\-·•‧∙_–—−]{1,8}(?:[ \t\n/|]+[.\-·•‧∙_–—−]{1,8}){5,}")


def _morse(run: str) -> str | None:
    words = re.split(r"\s*[/|]\s*|\s{3,}|\n", run.translate(_MORSE_FOLD))
    codes = [code for word in words for code in word.split()]
    known = sum(code in _MORSE for code in codes)
    # mostly codes, and at least three different ones holding dots and dashes: not a run of dashes, ellipses or of
    # letterless ". " padding (round 22b's padding would read "eeee…")
    if known * 10 < 8 * len(codes) or len(set(codes)) < 3 or not {".", "-"} <= set("".join(codes)):
        return None
    # an unknown code (PyRIT writes "........" for a character it has no code for) reads as nothing
    return " ".join("".join(_MORSE.get(code, "") for code in word.split()) for word in words if word.strip())


# --- Braille (Grade 1 cells: U+2800 + dot bits; garak's and PyRIT's capital sign U+2820 and number sign U+283C) --------
def _cell(dots: str) -> str:
    return chr(0x2800 + sum(1 << (int(d) - 1) for d in dots))


_FIRST_DECADE = ["1", "12", "14", "145", "15", "124", "1245", "125", "24", "245"]  # a..j
_BRAILLE = {_cell(d): chr(ord("a") + k) for k, d in enumerate(_FIRST_DECADE)}
_BRAILLE |= {_cell(d + "3"): chr(ord("k") + k) for k, d in enumerate(_FIRST_DECADE)}  # k..t
_BRAILLE |= {_cell(d + "36"): c for d, c in zip(_FIRST_DECADE[:5], "uvxyz", strict=True)} | {_cell("2456"): "w"}
_BRAILLE_PUNCT = {_cell("256"): ".", _cell("2"): ",", _cell("236"): "?", _cell("235"): "!", _cell("3"): "'",
                  _cell("36"): "-", _cell("25"): ":", _cell("23"): ";", _cell("34"): "/", _cell("2356"): "(",
                  _cell("56"): ";"}
_BRAILLE_DIGITS = {cell: "1234567890"[k] for k, cell in enumerate(_cell(d) for d in _FIRST_DECADE)}
_CAPITAL, _NUMBER = _cell("6"), _cell("3456")
_BRAILLE_RUN = re.compile("[\u2801-\u28ff]+(?:[ \t\n]+[\u2801-\u28ff]+)*")  # unambiguous: linear


def _braille(run: str) -> str | None:
    if sum(not ch.isspace() for ch in run) < 4:
        return None
    out: list[str] = []
    number = False
    for ch in run:
        if ch == _NUMBER:
            number = True
        elif ch == _CAPITAL:
            continue  # the text is case-folded: the capital sign carries nothing that survives
        elif number and ch in _BRAILLE_DIGITS:
            out.append(_BRAILLE_DIGITS[ch])
        else:
            number = number and ch in _BRAILLE_PUNCT
            out.append(_BRAILLE.get(ch) or _BRAILLE_PUNCT.get(ch) or (ch if ch in " \t\n" else ""))
    return "".join(out)


# --- NATO phonetic alphabet (garak InjectNato, PyRIT NatoConverter: letters only, no word gaps) --------------------------
_NATO = {w: w[0] for w in ("alfa", "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
                           "juliett", "juliet", "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo",
                           "sierra", "tango", "uniform", "victor", "whiskey", "whisky", "xray", "x-ray", "yankee",
                           "zulu")}
_NATO_RUN = re.compile(r"(?i)\b(?:%s)(?:[ \t\n,]+(?:%s)){5,}\b" % (("|".join(_NATO),) * 2))


def _nato(run: str) -> str | None:
    # the toolkits drop spaces: the letters come back as one glued word (lossy; matched near by character shingles)
    return "".join(_NATO[w.casefold()] for w in re.findall(r"[A-Za-z-]+", run))


def _spans(pattern: re.Pattern[str], decode: Callable[[str], str | None], text: str, min_letters: int = 3) -> Spans:
    found: Spans = []
    for m in pattern.finditer(text):
        decoded = decode(m.group(0))
        if decoded is not None and decoded != m.group(0) and readable(decoded, min_letters=min_letters):
            found.append((m.start(), m.end(), decoded))
    return found


def _whole(decode: Callable[[str], str | None]) -> Callable[[str], Spans]:
    def find(text: str) -> Spans:
        decoded = decode(text)
        return [(0, len(text), decoded)] if decoded is not None and decoded != text and readable(decoded) else []
    return find


def _mime_spans(text: str) -> Spans:
    found: Spans = []
    for m in _MIME_WORD.finditer(text):
        decoded = _mime_word(m)
        if decoded is not None:
            found.append((m.start(), m.end(), decoded))
    # adjacent encoded-words are one text (RFC 2047 §6.2: the white space between them is not displayed)
    merged: Spans = []
    for start, end, decoded in found:
        if merged and not text[merged[-1][1]:start].strip():
            merged[-1] = (merged[-1][0], end, merged[-1][2] + decoded)
        else:
            merged.append((start, end, decoded))
    return merged if any(readable(d) for _s, _e, d in merged) else []


# In the order tried: the self-delimiting forms first (encoded-words, escapes), then those whose alphabet is a subset of
# the next ones' (binary digits are hex digits; hex digits are base32/base85 characters).
FINDERS: tuple[tuple[str, Callable[[str], Spans]], ...] = (
    ("mime", _mime_spans),
    ("escapes", lambda t: _spans(_ESCAPE_RUN, _escapes, t, 2)),
    ("url", lambda t: _spans(_URL_TOKEN, _url, t, 2)),
    ("quoted_printable", _whole(_quoted_printable)),
    ("binary", lambda t: _spans(_BIT_WORDS, _binary, t) or _spans(_BIT_STRING, _binary, t)),
    ("hex", lambda t: _spans(_HEX_PAIRS, _hex, t) or _spans(_HEX_RUN, _hex, t)),
    # after hex: a run of byte pairs made of decimal digits only is no hex (``_hex`` wants a letter) and may be this
    ("charcode", lambda t: _spans(_DECIMAL_RUN, _charcode, t)),
    ("base32", lambda t: _spans(_B32_RUN, _base32, t)),
    ("uuencode", _uu_spans),
    ("morse", lambda t: _spans(_MORSE_RUN, _morse, t)),
    ("braille", lambda t: _spans(_BRAILLE_RUN, _braille, t)),
    ("nato", lambda t: _spans(_NATO_RUN, _nato, t)),
)
# base85's alphabet holds nearly all of ASCII: tried after base64 (a base64 text is valid base85 too)
LATE_FINDERS: tuple[tuple[str, Callable[[str], Spans]], ...] = (
    ("base85", lambda t: _spans(_B85_RUN, _base85, t)),
)
LAYERS = tuple(name for name, _find in FINDERS + LATE_FINDERS)


def find(text: str, finders: tuple[tuple[str, Callable[[str], Spans]], ...] = FINDERS) -> tuple[str, Spans] | None:
    """The first encoding of ``finders`` with spans in ``text`` that decode to readable text, and those spans."""
    for name, finder in finders:
        spans = finder(text)
        if spans:
            return name, spans
    return None
