"""Phone numbers to E.164, the one spelling callpop stores and looks up.

Caller ID arrives however the carrier, the PBX or a CSV wrote it: `+15551234567`,
`15551234567`, `5551234567`, `0015551234567`, `(555) 123-4567` are one number. The
rule (design.md, "Phone numbers"): a leading international prefix (`00`, `011`, from
config) becomes `+`, then `phonenumbers` parses with the default region and we keep
numbers that are *possible* (right length for their country) rather than *valid*
(assigned): the 555 numbers used in demos and documentation are fictional, and a
CRM must still find the customer whose record says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import phonenumbers
from phonenumbers.phonemetadata import PhoneMetadata, PhoneNumberDesc

__all__ = ["PhoneNormaliser"]

# Longer than any phone number spelling a PBX or a spreadsheet produces; longer input
# is not a number and is not worth parsing (caller ID is caller-controlled text).
_MAX_INPUT = 64
_SEPARATORS = str.maketrans("", "", " \t-.()/")
# Parsing costs ~10 µs (phonenumbers' regular expressions; ~1.5 µs for caller ID already
# in E.164 form, which skips the parse), and a call's number is
# normalised by every layer it passes and again each time the caller rings: answers
# are remembered, the oldest forgotten first. 16k entries (~3 MB) hold the callers
# of the lookup cache (10k by default) with room to spare.
_MEMO_SIZE = 16_384
# phonenumbers' bounds for the national significant number (its _MIN/_MAX_LENGTH_FOR_NSN).
_NSN_MIN, _NSN_MAX = 2, 17


class _Country:
    """What `phonenumbers.parse` and `is_possible_number` read of one country's metadata
    for a `+`-and-digits number: its national prefix for parsing (a number that starts
    with it may be rewritten by the parse, so it takes the full parse) and the lengths
    a national significant number may have."""

    __slots__ = ("lengths", "prefix")

    def __init__(self, metadata: PhoneMetadata, general: PhoneNumberDesc) -> None:
        pattern = metadata.national_prefix_for_parsing
        self.prefix = re.compile(pattern) if pattern else None
        self.lengths = frozenset(general.possible_length) | frozenset(
            general.possible_length_local_only or ()
        )


_COUNTRIES: dict[int, _Country | None] = {}


def _country(code: int) -> _Country | None:
    if code in _COUNTRIES:
        return _COUNTRIES[code]
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(
        code, phonenumbers.region_code_for_country_code(code)
    )
    general = metadata.general_desc if metadata is not None else None
    found = _COUNTRIES[code] = (
        _Country(metadata, general) if metadata is not None and general is not None else None
    )
    return found


_PARSE = "?"  # the fast path's "ask phonenumbers": never an E.164 number


def _international(digits: str) -> str | None:
    """`+digits` in E.164, or None when it is not possible, as the full parse would say,
    at a tenth of its cost (~1 µs): the country code as phonenumbers extracts it (1 to 3
    digits, first match), then the possible lengths of that country. `_PARSE` where the
    parse could do more than split (a national prefix after the country code, lengths
    at phonenumbers' bounds): tests/crm/test_phone_fast_path.py holds the two equal."""
    if digits[0] == "0":
        return None  # no country code starts with 0
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE
    for width in (1, 2, 3):
        code = int(digits[:width])
        if code in regions:
            break
    else:
        return None  # not a country code: the parse fails too
    national = digits[width:]
    if not _NSN_MIN < len(national) < _NSN_MAX:
        return _PARSE
    country = _country(code)
    if country is None or (country.prefix is not None and country.prefix.match(national)):
        return _PARSE
    return "+" + digits if len(national) in country.lengths else None


class PhoneNormaliser:
    """`normalise(text) -> "+15551234567" | None` under one site's rules."""

    __slots__ = ("_memo", "_memo_size", "_prefixes", "default_region")

    def __init__(
        self,
        default_region: str = "US",
        international_prefixes: Iterable[str] = ("011", "00"),
        *,
        memo_size: int = _MEMO_SIZE,
    ) -> None:
        region = default_region.upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(
                f"unknown phone region {default_region!r} (ISO 3166 code, e.g. US, GB)"
            )
        prefixes = tuple(international_prefixes)
        for prefix in prefixes:
            if not prefix.isdigit():
                raise ValueError(f"an international prefix is digits, got {prefix!r}")
        self.default_region = region
        # Longest first, so "011" wins over a hypothetical "0".
        self._prefixes = tuple(sorted(prefixes, key=len, reverse=True))
        self._memo: dict[str, str | None] = {}
        self._memo_size = memo_size

    def normalise(self, text: str) -> str | None:
        """The E.164 form of `text`, or None when it is not a possible phone number
        (empty, `anonymous`, letters, too short or too long for its country)."""
        if len(text) > _MAX_INPUT:
            return None
        memo = self._memo
        if text in memo:
            return memo[text]
        e164 = self._parse(text)
        if self._memo_size > 0:
            if len(memo) >= self._memo_size:
                memo.pop(next(iter(memo)), None)
            memo[text] = e164
        return e164

    def _parse(self, text: str) -> str | None:
        compact = text.strip().translate(_SEPARATORS)
        if not compact:
            return None
        plus = compact.startswith("+")
        digits = compact[1:] if plus else compact
        # Letters would be read as a vanity number ("1-800-FLOWERS") by phonenumbers;
        # a caller ID with letters is a name or "anonymous", never a number.
        if not digits.isascii() or not digits.isdigit():
            return None
        if not plus:
            for prefix in self._prefixes:
                if digits.startswith(prefix) and len(digits) > len(prefix):
                    digits, plus = digits[len(prefix) :], True
                    break
        if plus:
            fast = _international(digits)
            if fast != _PARSE:
                return fast
        try:
            number = phonenumbers.parse(
                ("+" + digits) if plus else digits, None if plus else self.default_region
            )
        except phonenumbers.NumberParseException:
            return None
        if not phonenumbers.is_possible_number(number):
            return None
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    def __repr__(self) -> str:
        return f"PhoneNormaliser({self.default_region!r}, {list(self._prefixes)!r})"
