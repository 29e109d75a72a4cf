"""The Kubernetes CEL libraries that cel-expr-python lacks, as the API server defines them.

k8s.io/apiserver/pkg/cel/library: regex (`find`, `findAll`), lists (`isSorted`, `sum`, `min`, `max`,
`indexOf`, `lastIndexOf`), quantity, URL, IP, CIDR and format; and cel-go's `ext.Sets` (`sets.contains`,
`sets.equivalent`, `sets.intersects`), which Kubernetes enables from 1.29. The strings extension
(`split`, `join`, `replace`...) and optional types come with cel-expr-python itself.

How they differ from the Go originals, all of which turn into an evaluation error, never a pass:
- Quantity, URL, IP, CIDR and Format are opaque types in Kubernetes. cel-expr-python 0.1.3 cannot
  pass an opaque value between Python and CEL, so each is a map `{"@type": ..., "value": ...}` whose
  value is canonical: two quantities are `==` exactly when Kubernetes' `Equal` says so. `type(x)`
  shows a map where Kubernetes shows the opaque type.
- `format.named()` and `<Format>.validate()` return optionals, which a Python function cannot
  build; `rewrite` appends `[?"value"]` to each such call, so that the function returns a map and CEL's
  own optional field selection makes the optional.
- `find` and `findAll` use Python's `re` where Kubernetes uses Go's RE2: the patterns CRDs use mean the
  same in both; an RE2-only construct (`\\pL`, `\\z`) fails to compile here, which is an error.
- `sum` over durations is refused (a duration cannot be returned from Python).
- Cost limits are not enforced: a rule the API server would stop for exceeding its budget is evaluated.
- Semver, image, authz and the two-variable comprehensions (Kubernetes 1.32+) are not here: a rule that
  calls them does not compile, and the check reports it as `cel-unsupported`.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import math
import re
import urllib.parse
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime
from fractions import Fraction
from functools import lru_cache
from typing import Any

from cel_expr_python import cel

OPAQUE = "@type"
QUANTITY = "kubernetes.Quantity"
URL = "kubernetes.URL"
IP = "net.IP"
CIDR = "net.CIDR"
FORMAT = "kubernetes.NamedFormat"
OPTIONAL_KEY = "value"  # the key `rewrite` selects with `[?"value"]`

Opaque = dict[str, Any]


class CelLibraryError(ValueError):
    """Raised inside a library function: CEL sees an error value with this message."""


def _opaque(kind: str, value: Any) -> Opaque:
    return {OPAQUE: kind, "value": value}


def _value(arg: Any, kind: str) -> Any:
    if not isinstance(arg, dict) or arg.get(OPAQUE) != kind:
        raise CelLibraryError(f"no such overload: expected {kind}")
    return arg["value"]


# --- CEL equality, as the library functions need it ----------------------------------------------
def cel_equal(a: Any, b: Any) -> bool:
    """CEL's heterogeneous equality: numbers compare by value across int, uint and double; a bool is
    never a number; lists and maps compare element by element."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(cel_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(cel_equal(a[k], b[k]) for k in a)
    if isinstance(a, bytes | bytearray) and isinstance(b, bytes | bytearray):
        return bytes(a) == bytes(b)
    return type(a) is type(b) and bool(a == b)


# --- regex -----------------------------------------------------------------------------------------
@lru_cache(maxsize=512)
def _regex(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise CelLibraryError(f"Illegal regex: {exc}") from exc


def find(text: str, pattern: str) -> str:
    """The first match of the pattern, or ''."""
    found = _regex(pattern).search(text)
    return found.group(0) if found else ""


def find_all(text: str, pattern: str, limit: int = -1) -> list[str]:
    """Successive non-overlapping matches as Go's FindAllString returns them: an empty match right
    after the previous match is left out, and a limit >= 0 caps the count."""
    regex, pos, previous_end = _regex(pattern), 0, -1
    out: list[str] = []
    while pos <= len(text) and (limit < 0 or len(out) < limit):
        found = regex.search(text, pos)
        if not found:
            break
        start, end = found.span()
        if end == start:
            if start != previous_end:
                out.append("")
            pos = start + 1
        else:
            out.append(found.group(0))
            pos = end
        previous_end = end
    return out


# --- lists -----------------------------------------------------------------------------------------
def is_sorted(items: list[Any]) -> bool:
    return all(not (b < a) for a, b in zip(items, items[1:], strict=False))


def list_sum(items: list[Any]) -> Any:
    if any(not isinstance(x, int | float) or isinstance(x, bool) for x in items):
        raise CelLibraryError("sum: only lists of numbers are supported here")
    if items and all(isinstance(x, float) for x in items):
        return math.fsum(items)
    return sum(items)


def list_min(items: list[Any]) -> Any:
    if not items:
        raise CelLibraryError("min called on empty list")
    return min(items)


def list_max(items: list[Any]) -> Any:
    if not items:
        raise CelLibraryError("max called on empty list")
    return max(items)


def index_of(items: list[Any], item: Any) -> int:
    return next((i for i, x in enumerate(items) if cel_equal(x, item)), -1)


def last_index_of(items: list[Any], item: Any) -> int:
    return next((i for i in range(len(items) - 1, -1, -1) if cel_equal(items[i], item)), -1)


# --- sets (cel-go ext.Sets) ------------------------------------------------------------------------
def sets_contains(items: list[Any], sub: list[Any]) -> bool:
    return all(any(cel_equal(x, y) for x in items) for y in sub)


def sets_equivalent(a: list[Any], b: list[Any]) -> bool:
    return sets_contains(a, b) and sets_contains(b, a)


def sets_intersects(a: list[Any], b: list[Any]) -> bool:
    return any(cel_equal(x, y) for x in a for y in b)


# --- quantity (k8s.io/apimachinery resource.Quantity) -----------------------------------------------
_QUANTITY = re.compile(r"^([+-]?)(\d+(?:\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$")
_SUFFIX = {
    "": Fraction(1),
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 10**3),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
    **{s: Fraction(2 ** (10 * (i + 1))) for i, s in enumerate(("Ki", "Mi", "Gi", "Ti", "Pi", "Ei"))},
}
NANO = 10**9
INT64 = 2**63


def parse_quantity(text: str) -> Fraction:
    """resource.ParseQuantity: a signed decimal and a suffix; precision beyond 1n rounds away from zero."""
    found = _QUANTITY.match(text)
    if not found:
        raise CelLibraryError("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
    sign, number, suffix = found.group(1), found.group(2), found.group(3) or ""
    factor = Fraction(10) ** int(suffix[1:]) if suffix[:1] in ("e", "E") else _SUFFIX[suffix]
    value = Fraction(number) * factor
    scaled = value * NANO
    if scaled.denominator != 1:
        value = Fraction(math.ceil(scaled), NANO)
    return -value if sign == "-" else value


def _quantity(value: Fraction) -> Opaque:
    return _opaque(QUANTITY, f"{value.numerator}/{value.denominator}")


def _q(arg: Any) -> Fraction:
    return Fraction(_value(arg, QUANTITY))


def quantity(text: str) -> Opaque:
    return _quantity(parse_quantity(text))


def is_quantity(text: str) -> bool:
    try:
        parse_quantity(text)
    except CelLibraryError:
        return False
    return True


def _as_integer(value: Fraction) -> int | None:
    return value.numerator if value.denominator == 1 and -INT64 <= value.numerator < INT64 else None


def quantity_as_integer(arg: Any) -> int:
    found = _as_integer(_q(arg))
    if found is None:
        raise CelLibraryError("cannot convert value to integer")
    return found


def quantity_compare(a: Any, b: Any) -> int:
    x, y = _q(a), _q(b)
    return (x > y) - (x < y)


QUANTITY_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "isInteger": lambda q: _as_integer(_q(q)) is not None,
    "asInteger": quantity_as_integer,
    "asApproximateFloat": lambda q: float(_q(q)),
    "sign": lambda q: (_q(q) > 0) - (_q(q) < 0),
    "isGreaterThan": lambda a, b: quantity_compare(a, b) == 1,
    "isLessThan": lambda a, b: quantity_compare(a, b) == -1,
    "compareTo": quantity_compare,
    "add": lambda a, b: _quantity(_q(a) + (_q(b) if isinstance(b, dict) else b)),
    "sub": lambda a, b: _quantity(_q(a) - (_q(b) if isinstance(b, dict) else b)),
    "mul": lambda a, n: _quantity(_q(a) * n),
}


# --- URL (Go's net/url, as url() and isURL() use it) ------------------------------------------------
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*$")
_PATH_SAFE = "$&+,/:;=@"  # what Go leaves unescaped in a path, besides letters, digits and -_.~
_VALID_ENCODED = re.compile(r"^[A-Za-z0-9\-_.~!$&'()*+,;=:@\[\]/%]*$")


def _parse_url(text: str) -> dict[str, str]:
    """url.ParseRequestURI, then url.Parse (as Kubernetes does): an absolute URL or an absolute path."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        raise CelLibraryError(f'parse "{text}": net/url: invalid control character in URL')
    scheme, rest = "", text
    colon = text.find(":")
    if colon > 0 and _SCHEME.match(text[:colon]):
        scheme, rest = text[:colon], text[colon + 1 :]
    elif colon == 0:
        raise CelLibraryError(f'parse "{text}": missing protocol scheme')
    rest, _, fragment = rest.partition("#")
    rest, has_query, query = rest.partition("?")
    if not rest.startswith("/") and not (scheme and rest):
        raise CelLibraryError(f'parse "{text}": invalid URI for request')
    host = ""
    if scheme and rest.startswith("//"):
        authority, slash, path = rest[2:].partition("/")
        rest = slash + path
        host = authority.rpartition("@")[2]
        _check_host(text, host)
    elif scheme and not rest.startswith("/"):
        return {"scheme": scheme.lower(), "host": "", "path": "", "raw_path": "", "query": query}
    try:
        path = urllib.parse.unquote(rest, errors="strict")
    except UnicodeDecodeError as exc:
        raise CelLibraryError(f'parse "{text}": invalid URL escape') from exc
    if re.search(r"%(?![0-9A-Fa-f]{2})", rest):
        raise CelLibraryError(f'parse "{text}": invalid URL escape')
    del fragment, has_query
    return {"scheme": scheme.lower(), "host": host, "path": path, "raw_path": rest, "query": query}


def _check_host(text: str, host: str) -> None:
    if host.startswith("["):
        end = host.find("]")
        if end < 0:
            raise CelLibraryError(f"parse \"{text}\": missing ']' in host")
        port = host[end + 1 :]
    else:
        colon = host.rfind(":")
        port = host[colon:] if colon >= 0 else ""
        for char in host[: colon if colon >= 0 else len(host)]:
            if char in ' <>"{}|\\^`' or ord(char) < 0x20:
                raise CelLibraryError(f'parse "{text}": invalid character "{char}" in host name')
    if port and not re.fullmatch(r":\d*", port):
        raise CelLibraryError(f'parse "{text}": invalid port "{port}" after host')


@lru_cache(maxsize=256)
def _url_parts(text: str) -> dict[str, str]:
    return _parse_url(text)


def url(text: str) -> Opaque:
    try:
        _url_parts(text)
    except CelLibraryError as exc:
        raise CelLibraryError(f"URL parse error during conversion from string: {exc}") from exc
    return _opaque(URL, text)


def is_url(text: str) -> bool:
    try:
        _url_parts(text)
    except CelLibraryError:
        return False
    return True


def _url(arg: Any) -> dict[str, str]:
    return _url_parts(str(_value(arg, URL)))


def _hostname(host: str) -> str:
    if host.startswith("["):
        return host[1 : host.find("]")]
    return host.rpartition(":")[0] if ":" in host else host


def _port(host: str) -> str:
    colon = host.rfind(":")
    if colon < 0 or (host.startswith("[") and colon < host.find("]")):
        return ""
    return host[colon + 1 :]


def _escaped_path(parts: dict[str, str]) -> str:
    raw = parts["raw_path"]
    if raw and _VALID_ENCODED.match(raw) and urllib.parse.unquote(raw) == parts["path"]:
        return raw
    return urllib.parse.quote(parts["path"], safe=_PATH_SAFE)


def _query(parts: dict[str, str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for pair in parts["query"].split("&"):
        if not pair or ";" in pair:
            continue
        key, _, value = pair.partition("=")
        try:
            found.setdefault(urllib.parse.unquote_plus(key, errors="strict"), []).append(
                urllib.parse.unquote_plus(value, errors="strict")
            )
        except UnicodeDecodeError:
            continue
    return found


URL_FUNCTIONS: dict[str, Callable[[Any], Any]] = {
    "getScheme": lambda u: _url(u)["scheme"],
    "getHost": lambda u: _url(u)["host"],
    "getHostname": lambda u: _hostname(_url(u)["host"]),
    "getPort": lambda u: _port(_url(u)["host"]),
    "getEscapedPath": lambda u: _escaped_path(_url(u)),
    "getQuery": lambda u: _query(_url(u)),
}


# --- IP and CIDR (Go's net/netip, as Kubernetes restricts it) ---------------------------------------
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _parse_ip(text: str) -> Address:
    if "%" in text:
        raise CelLibraryError("IP address with zone value is not allowed")
    try:
        addr = ipaddress.ip_address(text)
    except ValueError as exc:
        raise CelLibraryError(f'IP Address "{text}" parse error during conversion from string: {exc}') from exc
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        raise CelLibraryError("IPv4-mapped IPv6 address is not allowed")
    return addr


def _parse_cidr(text: str) -> tuple[Address, int]:
    address, slash, bits = text.partition("/")
    if not slash or not re.fullmatch(r"0|[1-9]\d*", bits):
        raise CelLibraryError(f'network address parse error during conversion from string: netip.ParsePrefix("{text}"): bad bits')
    addr = _parse_ip(address)
    if int(bits) > addr.max_prefixlen:
        raise CelLibraryError(
            f'network address parse error during conversion from string: netip.ParsePrefix("{text}"): prefix length out of range'
        )
    return addr, int(bits)


def ip(text: str) -> Opaque:
    return _opaque(IP, str(_parse_ip(text)))


def is_ip(text: str) -> bool:
    try:
        _parse_ip(text)
    except CelLibraryError:
        return False
    return True


def ip_is_canonical(text: str) -> bool:
    return str(_parse_ip(text)) == text


def _ip(arg: Any) -> Address:
    return ipaddress.ip_address(_value(arg, IP))


def _global_unicast(addr: Address) -> bool:
    if isinstance(addr, ipaddress.IPv4Address) and str(addr) in ("0.0.0.0", "255.255.255.255"):
        return False
    return not (addr.is_unspecified or addr.is_loopback or addr.is_multicast or _link_local_unicast(addr))


def _link_local_unicast(addr: Address) -> bool:
    net = "169.254.0.0/16" if addr.version == 4 else "fe80::/10"
    return addr in ipaddress.ip_network(net)


def _link_local_multicast(addr: Address) -> bool:
    net = "224.0.0.0/24" if addr.version == 4 else "ff02::/16"
    return addr in ipaddress.ip_network(net)


IP_FUNCTIONS: dict[str, Callable[[Any], Any]] = {
    "family": lambda a: _ip(a).version,
    "isUnspecified": lambda a: _ip(a).is_unspecified,
    "isLoopback": lambda a: _ip(a).is_loopback,
    "isLinkLocalMulticast": lambda a: _link_local_multicast(_ip(a)),
    "isLinkLocalUnicast": lambda a: _link_local_unicast(_ip(a)),
    "isGlobalUnicast": lambda a: _global_unicast(_ip(a)),
}


def cidr(text: str) -> Opaque:
    addr, bits = _parse_cidr(text)
    return _opaque(CIDR, f"{addr}/{bits}")


def is_cidr(text: str) -> bool:
    try:
        _parse_cidr(text)
    except CelLibraryError:
        return False
    return True


def _cidr(arg: Any) -> tuple[Address, int]:
    return _parse_cidr(str(_value(arg, CIDR)))


def _network(addr: Address, bits: int) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(f"{addr}/{bits}", strict=False)


def cidr_contains_ip(arg: Any, other: Any) -> bool:
    addr, bits = _cidr(arg)
    target = _parse_ip(other) if isinstance(other, str) else _ip(other)
    return target.version == addr.version and target in _network(addr, bits)


def cidr_contains_cidr(arg: Any, other: Any) -> bool:
    addr, bits = _cidr(arg)
    inner, inner_bits = _parse_cidr(other) if isinstance(other, str) else _cidr(other)
    if inner.version != addr.version or inner_bits < bits:
        return False
    return _network(inner, bits) == _network(addr, bits)


CIDR_FUNCTIONS: dict[str, Callable[[Any], Any]] = {
    "ip": lambda c: _opaque(IP, str(_cidr(c)[0])),
    "masked": lambda c: _opaque(CIDR, str(_network(*_cidr(c)))),
    "prefixLength": lambda c: _cidr(c)[1],
}


def to_string(arg: Any) -> str:
    """string(<IP>) and string(<CIDR>)."""
    if isinstance(arg, dict) and arg.get(OPAQUE) in (IP, CIDR):
        return str(arg["value"])
    raise CelLibraryError("no such overload: string() of this value")


# --- format (named Kubernetes string validations) -------------------------------------------------
def _regex_error(message: str, pattern: str, *examples: str) -> str:
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{message} (e.g. {shown}regex used for validation is '{pattern}')"


_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN = _LABEL + r"(\." + _LABEL + ")*"
_DNS1035 = "[a-z]([-a-z0-9]*[a-z0-9])?"
_QUALIFIED = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE = "(" + _QUALIFIED + ")?"


def _dns1123_label(s: str) -> list[str]:
    errs = ["must be no more than 63 characters"] if len(s) > 63 else []
    if not re.fullmatch(_LABEL, s):
        errs.append(
            _regex_error(
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
                "and must start and end with an alphanumeric character",
                _LABEL,
                "my-name",
                "123-abc",
            )
        )
    return errs


def _dns1123_subdomain(s: str) -> list[str]:
    errs = ["must be no more than 253 characters"] if len(s) > 253 else []
    if not re.fullmatch(_SUBDOMAIN, s):
        errs.append(
            _regex_error(
                "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                "and must start and end with an alphanumeric character",
                _SUBDOMAIN,
                "example.com",
            )
        )
    return errs


def _dns1035_label(s: str) -> list[str]:
    errs = ["must be no more than 63 characters"] if len(s) > 63 else []
    if not re.fullmatch(_DNS1035, s):
        errs.append(
            _regex_error(
                "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
                "alphabetic character, and end with an alphanumeric character",
                _DNS1035,
                "my-name",
                "abc-123",
            )
        )
    return errs


def _qualified_name(s: str) -> list[str]:
    parts = s.split("/")
    if len(parts) > 2:
        return [
            _regex_error(
                "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and "
                "end with an alphanumeric character",
                _QUALIFIED,
                "MyName",
                "my.name",
                "123-abc",
            )
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    errs: list[str] = []
    name = parts[-1]
    if len(parts) == 2:
        if not parts[0]:
            errs.append("prefix part must be non-empty")
        else:
            errs += ["prefix part " + e for e in _dns1123_subdomain(parts[0])]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > 63:
        errs.append("name part must be no more than 63 characters")
    if name and not re.fullmatch(_QUALIFIED, name):
        errs.append(
            "name part "
            + _regex_error(
                "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
                _QUALIFIED,
                "MyName",
                "my.name",
                "123-abc",
            )
        )
    return errs


def _label_value(s: str) -> list[str]:
    errs = ["must be no more than 63 characters"] if len(s) > 63 else []
    if not re.fullmatch(_LABEL_VALUE, s):
        errs.append(
            _regex_error(
                "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
                "and must start and end with an alphanumeric character",
                _LABEL_VALUE,
                "MyValue",
                "my_value",
                "12345",
            )
        )
    return errs


def _prefix(check: Callable[[str], list[str]]) -> Callable[[str], list[str]]:
    """The *Prefix formats: a name that generateName completes, so a trailing '-' is allowed."""
    return lambda s: check(s[:-1] + "a" if s.endswith("-") else s)


def _uri(s: str) -> list[str]:
    try:
        _parse_url(s)
    except CelLibraryError as exc:
        return [str(exc)]
    return []


def _uuid(s: str) -> list[str]:
    if not re.fullmatch(r"(?i)[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", s):
        return ["does not match the UUID format"]
    uuid.UUID(s)
    return []


def _byte(s: str) -> list[str]:
    try:
        base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError):
        return ["invalid base64"]
    return []


def _date(s: str) -> list[str]:
    try:
        datetime.strptime(s, "%Y-%m-%d")
    except ValueError:
        return ["invalid date"]
    return []


_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?")


def _datetime(s: str) -> list[str]:
    if not _DATETIME.fullmatch(s):
        return ["invalid datetime"]
    try:
        datetime.fromisoformat(s.replace("z", "Z").replace("Z", "+00:00").replace("t", "T"))
    except ValueError:
        return ["invalid datetime"]
    return []


FORMATS: dict[str, Callable[[str], list[str]]] = {
    "dns1123Label": _dns1123_label,
    "dns1123Subdomain": _dns1123_subdomain,
    "dns1035Label": _dns1035_label,
    "qualifiedName": _qualified_name,
    "dns1123LabelPrefix": _prefix(_dns1123_label),
    "dns1123SubdomainPrefix": _prefix(_dns1123_subdomain),
    "dns1035LabelPrefix": _prefix(_dns1035_label),
    "labelValue": _label_value,
    "uri": _uri,
    "uuid": _uuid,
    "byte": _byte,
    "date": _date,
    "datetime": _datetime,
}


def format_named(name: str) -> dict[str, Any]:
    """format.named(): {} or {"value": <Format>}; `rewrite` makes it the optional Kubernetes returns."""
    return {OPTIONAL_KEY: _opaque(FORMAT, name)} if name in FORMATS else {}


def format_validate(fmt: Any, text: str) -> dict[str, Any]:
    """<Format>.validate(): {} when valid, else {"value": [errors]}; `rewrite` makes the optional."""
    errors = FORMATS[str(_value(fmt, FORMAT))](text)
    return {OPTIONAL_KEY: errors} if errors else {}


# --- declarations ---------------------------------------------------------------------------------
T = cel.Type
OPAQUE_TYPE = T.Map(T.STRING, T.DYN)
LIST = T.List(T.DYN)


def _member(overload: str, result: Any, params: Iterable[Any], impl: Callable[..., Any]) -> cel.Overload:
    """A receiver-style overload. An exception the function raises becomes a CEL error value."""
    return cel.Overload(overload, result, list(params), is_member=True, impl=impl)


def _global(overload: str, result: Any, params: Iterable[Any], impl: Callable[..., Any]) -> cel.Overload:
    return cel.Overload(overload, result, list(params), is_member=False, impl=impl)


def _declarations() -> list[cel.FunctionDecl]:
    s, b, i, d, dyn = T.STRING, T.BOOL, T.INT, T.DOUBLE, T.DYN
    q = u = o = OPAQUE_TYPE
    decls: dict[str, list[cel.Overload]] = {
        # regex
        "find": [_member("string_find_string", s, [s, s], find)],
        "findAll": [
            _member("string_find_all_string", T.List(s), [s, s], find_all),
            _member("string_find_all_string_int", T.List(s), [s, s, i], find_all),
        ],
        # lists
        "isSorted": [_member("list_is_sorted_bool", b, [LIST], is_sorted)],
        "sum": [_member("list_sum", dyn, [LIST], list_sum)],
        "min": [_member("list_min", dyn, [LIST], list_min)],
        "max": [_member("list_max", dyn, [LIST], list_max)],
        "indexOf": [_member("list_a_index_of_int", i, [LIST, dyn], index_of)],
        "lastIndexOf": [_member("list_a_last_index_of_int", i, [LIST, dyn], last_index_of)],
        # sets
        "sets.contains": [_global("list_sets_contains_list", b, [LIST, LIST], sets_contains)],
        "sets.equivalent": [_global("list_sets_equivalent_list", b, [LIST, LIST], sets_equivalent)],
        "sets.intersects": [_global("list_sets_intersects_list", b, [LIST, LIST], sets_intersects)],
        # quantity
        "quantity": [_global("string_to_quantity", q, [s], quantity)],
        "isQuantity": [_global("is_quantity_string", b, [s], is_quantity)],
        "sign": [_global("quantity_sign", i, [q], QUANTITY_FUNCTIONS["sign"])],
        "isGreaterThan": [_member("quantity_is_greater_than", b, [q, q], QUANTITY_FUNCTIONS["isGreaterThan"])],
        "isLessThan": [_member("quantity_is_less_than", b, [q, q], QUANTITY_FUNCTIONS["isLessThan"])],
        "compareTo": [_member("quantity_compare_to", i, [q, q], QUANTITY_FUNCTIONS["compareTo"])],
        "asApproximateFloat": [_member("quantity_get_float", d, [q], QUANTITY_FUNCTIONS["asApproximateFloat"])],
        "asInteger": [_member("quantity_get_int", i, [q], QUANTITY_FUNCTIONS["asInteger"])],
        "isInteger": [_member("quantity_is_integer", b, [q], QUANTITY_FUNCTIONS["isInteger"])],
        "add": [
            _member("quantity_add", q, [q, q], QUANTITY_FUNCTIONS["add"]),
            _member("quantity_add_int", q, [q, i], QUANTITY_FUNCTIONS["add"]),
        ],
        "sub": [
            _member("quantity_sub", q, [q, q], QUANTITY_FUNCTIONS["sub"]),
            _member("quantity_sub_int", q, [q, i], QUANTITY_FUNCTIONS["sub"]),
        ],
        "mul": [_member("quantity_multiply_int", q, [q, i], QUANTITY_FUNCTIONS["mul"])],
        # URL
        "url": [_global("string_to_url", u, [s], url)],
        "isURL": [_global("is_url_string", b, [s], is_url)],
        **{
            name: [_member(f"url_{name}", T.Map(s, T.List(s)) if name == "getQuery" else s, [u], fn)]
            for name, fn in URL_FUNCTIONS.items()
        },
        # IP and CIDR
        "ip": [
            _global("string_to_ip", o, [s], ip),
            _member("cidr_ip", o, [o], CIDR_FUNCTIONS["ip"]),
        ],
        "isIP": [_global("is_ip", b, [s], is_ip)],
        "ip.isCanonical": [_global("ip_is_canonical", b, [s], ip_is_canonical)],
        **{name: [_member(f"ip_{name}", i if name == "family" else b, [o], fn)] for name, fn in IP_FUNCTIONS.items()},
        "cidr": [_global("string_to_cidr", o, [s], cidr)],
        "isCIDR": [_global("is_cidr", b, [s], is_cidr)],
        "containsIP": [
            _member("cidr_contains_ip_ip", b, [o, o], cidr_contains_ip),
            _member("cidr_contains_ip_string", b, [o, s], cidr_contains_ip),
        ],
        "containsCIDR": [
            _member("cidr_contains_cidr", b, [o, o], cidr_contains_cidr),
            _member("cidr_contains_cidr_string", b, [o, s], cidr_contains_cidr),
        ],
        "masked": [_member("cidr_masked", o, [o], CIDR_FUNCTIONS["masked"])],
        "prefixLength": [_member("cidr_prefix_length", i, [o], CIDR_FUNCTIONS["prefixLength"])],
        "string": [_global("net_to_string", s, [o], to_string)],
        # format: validate and named return a map that `rewrite` turns into the optional
        "validate": [_member("format-validate", T.Map(s, T.List(s)), [o, s], format_validate)],
        "format.named": [_global("format-named", T.Map(s, o), [s], format_named)],
        **{f"format.{name}": [_global(f"format.{name}", o, [], _constant_format(name))] for name in FORMATS},
    }
    return [cel.FunctionDecl(name, overloads) for name, overloads in decls.items()]


def _constant_format(name: str) -> Callable[[], Opaque]:
    return lambda: _opaque(FORMAT, name)


def extension() -> cel.CelExtension:
    return cel.CelExtension("kubernetes", _declarations())


# --- the optional-returning calls -------------------------------------------------------------------
_OPTIONAL_CALLS = re.compile(r"\.\s*validate\s*\(|\bformat\s*\.\s*named\s*\(")
_STRING_START = re.compile(r"""[rRbB]{0,2}('''|\"\"\"|'|")""")


def rewrite(expression: str) -> str:
    """Append `[?"value"]` to every `.validate(...)` and `format.named(...)` call outside string literals."""
    if "validate" not in expression and "named" not in expression:
        return expression
    out: list[str] = []
    pos, closes, depth = 0, [], 0  # closes: the paren depths at which an optional call ends
    while pos < len(expression):
        literal = _STRING_START.match(expression, pos)
        if literal and (pos == 0 or not (expression[pos - 1].isalnum() or expression[pos - 1] == "_")):
            end = _string_end(expression, literal.end(), literal.group(1), "r" in literal.group(0).lower()[:-1])
            out.append(expression[pos:end])
            pos = end
            continue
        call = _OPTIONAL_CALLS.match(expression, pos)
        if call:
            out.append(call.group(0))
            depth += 1
            closes.append(depth)
            pos = call.end()
            continue
        char = expression[pos]
        out.append(char)
        if char == "(":
            depth += 1
        elif char == ")":
            if closes and closes[-1] == depth:
                closes.pop()
                out.append(f'[?"{OPTIONAL_KEY}"]')
            depth -= 1
        pos += 1
    return "".join(out)


def without_strings(expression: str) -> str:
    """The expression with the text of its string literals left out: what names it really uses."""
    out: list[str] = []
    pos = 0
    while pos < len(expression):
        literal = _STRING_START.match(expression, pos)
        if literal and (pos == 0 or not (expression[pos - 1].isalnum() or expression[pos - 1] == "_")):
            pos = _string_end(expression, literal.end(), literal.group(1), "r" in literal.group(0).lower()[:-1])
            out.append('""')
            continue
        out.append(expression[pos])
        pos += 1
    return "".join(out)


def _string_end(text: str, pos: int, quote: str, raw: bool) -> int:
    while pos < len(text):
        if not raw and text[pos] == "\\":
            pos += 2
            continue
        if text.startswith(quote, pos):
            return pos + len(quote)
        pos += 1
    return len(text)
