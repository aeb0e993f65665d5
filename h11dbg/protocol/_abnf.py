"""The grammar of HTTP/1.1 messages as compiled regular expressions.

Rule names follow RFC 9110 (fields, tokens) and RFC 9112 (start lines,
chunked framing).  Everything here is bytes and anchored by the caller with
``fullmatch`` so a regex can never silently accept a prefix.
"""

from __future__ import annotations

import re

# RFC 9110 §5.6.2: token = 1*tchar
TOKEN = rb"[-!#$%&'*+.^_`|~0-9A-Za-z]+"
# RFC 9110 §5.5: field-vchar = VCHAR / obs-text; field-content keeps inner SP/HTAB only.
FIELD_VCHAR = rb"[\x21-\x7e\x80-\xff]"
# field-value = *field-content, i.e. empty, or a VCHAR ... VCHAR run with inner SP/HTAB.  Written as
# one greedy class between two single VCHARs, so matching backtracks over trailing whitespace only.
FIELD_VALUE = rb"(?:" + FIELD_VCHAR + rb"(?:[\t\x20-\x7e\x80-\xff]*" + FIELD_VCHAR + rb")?)?"
OWS = rb"[ \t]*"

token_re = re.compile(TOKEN)
field_value_re = re.compile(FIELD_VALUE)

# RFC 9112 §5: field-line = field-name ":" OWS field-value OWS (no whitespace before the colon).
FIELD_LINE = rb"(" + TOKEN + rb"):" + OWS + rb"(" + FIELD_VALUE + rb")" + OWS
field_line_re = re.compile(FIELD_LINE)
# Field lines of a header block, each ending in CRLF or a bare LF (which RFC 9112 §2.2 lets a
# recipient accept).  A match starts at a line start and ends with that line's LF (no part of a field
# line matches a line end), so when findall() returns as many (name, value) pairs as the block has
# LFs, every line matched whole: one C-level pass both validates and splits.
header_lines_re = re.compile(rb"(?m)^" + FIELD_LINE + rb"\r?\n")

# RFC 9112 §2.3: HTTP-version = "HTTP/" DIGIT "." DIGIT
HTTP_VERSION = rb"HTTP/([0-9]\.[0-9])"
# RFC 9112 §3: request-line = method SP request-target SP HTTP-version (single SPs, VCHAR target).
REQUEST_TARGET = rb"[\x21-\x7e]+"
request_target_re = re.compile(REQUEST_TARGET)
request_line_re = re.compile(rb"(" + TOKEN + rb") (" + REQUEST_TARGET + rb") " + HTTP_VERSION)
# RFC 9112 §4: status-line = HTTP-version SP status-code SP [ reason-phrase ].  The SP before an
# empty reason is often missing in the wild; accepting its absence is harmless.
status_line_re = re.compile(HTTP_VERSION + rb" ([0-9]{3})(?: ([\t\x20-\x7e\x80-\xff]*))?")

# RFC 9112 §7.1: chunk-size = 1*HEXDIG, then chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] )
# where ext-val = token / quoted-string.
QUOTED_STRING = rb'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"'
CHUNK_EXT_VAL = rb"(?:" + TOKEN + rb"|" + QUOTED_STRING + rb")"
CHUNK_EXT = rb"(?:" + OWS + rb";" + OWS + TOKEN + rb"(?:" + OWS + rb"=" + OWS + CHUNK_EXT_VAL + rb")?)*"
chunk_header_re = re.compile(rb"([0-9A-Fa-f]+)(" + CHUNK_EXT + rb")")
# The common case in one step: a complete line with at most 16 hex digits.  Anything else takes
# the diagnosing path (which also allows extra leading zeros).
chunk_line_fast_re = re.compile(rb"([0-9A-Fa-f]{1,16})" + CHUNK_EXT + rb"\r\n")

# RFC 9110 §7.2 / RFC 3986 §3.2.2: Host = uri-host [ ":" port ]
IP_LITERAL = rb"\[(?:[0-9A-Fa-f:.]+|v[0-9A-Fa-f]+\.[-A-Za-z0-9._~!$&'()*+,;=:]+)\]"
REG_NAME = rb"[-A-Za-z0-9._~%!$&'()*+,;=]*"
HOST = rb"(?:" + IP_LITERAL + rb"|" + REG_NAME + rb")(?::[0-9]*)?"
host_re = re.compile(HOST)

content_length_re = re.compile(rb"[0-9]+")
