"""The Kubernetes CEL libraries (check/rules/kube_cel.py), one test per function, with the examples of the
Kubernetes documentation (kubernetes.io "Common Expression Language in Kubernetes" and the godoc of
k8s.io/apiserver/pkg/cel/library), evaluated through the same CEL environment the check uses."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_gitops.check.rules import crd_rules, kube_cel


def cel(expression: str) -> Any:
    result = crd_rules.environment().compile(kube_cel.rewrite(expression)).eval(data={"self": None})
    if str(result.type()) == "ERROR":
        raise ValueError(str(result.value()))
    return result.plain_value()


def case(expression: str, expected: Any) -> Any:
    return pytest.param(expression, expected, id=expression)


# --- regex --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        case("'abc 123'.find('[0-9]+')", "123"),
        case("'abc 123'.find('[0-9]*')", ""),  # the first match of [0-9]* is the empty one at the start, as in Go
        case("'abc 123'.find('xyz')", ""),
        case("'karpenter.sh/capacity-type'.find('^([^/]+)')", "karpenter.sh"),
    ],
)
def test_find(expression: str, expected: str) -> None:
    assert cel(expression) == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        case("'123 abc 456'.findAll('[0-9]+')", ["123", "456"]),
        case("'123 abc 456'.findAll('[0-9]+', 1)", ["123"]),
        case("'123 abc 456'.findAll('xyz')", []),
        case("'1, 2, 3, 4'.findAll('[0-9]+').map(x, int(x)).sum() < 100", True),
        # Go leaves out an empty match right after the previous match: 6 matches, not Python's 7
        case("'123 abc 456'.findAll('[0-9]*').size()", 6),
    ],
)
def test_find_all(expression: str, expected: Any) -> None:
    assert cel(expression) == expected


def test_an_illegal_regex_is_an_error() -> None:
    with pytest.raises(ValueError, match="Illegal regex"):
        cel("'abc'.find('[')")


# --- lists --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        case("[1, 2, 3].isSorted()", True),
        case("['a', 'b', 'b', 'c'].isSorted()", True),
        case("[2.0, 1.0].isSorted()", False),
        case("[1].isSorted()", True),
        case("[].isSorted()", True),
    ],
)
def test_is_sorted(expression: str, expected: bool) -> None:
    assert cel(expression) is expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [case("[1, 3].sum()", 4), case("[1.0, 3.0].sum()", 4.0), case("[].sum()", 0), case("[0.25, 0.75].sum() == 1.0", True)],
)
def test_sum(expression: str, expected: Any) -> None:
    assert cel(expression) == expected


@pytest.mark.parametrize(("expression", "expected"), [case("[1, 3].min()", 1), case("[1].min()", 1), case("([0] + []).min()", 0)])
def test_min(expression: str, expected: Any) -> None:
    assert cel(expression) == expected


def test_max() -> None:
    assert cel("[1, 3].max()") == 3
    assert cel("[1, 2].map(x, x * 10).max() < [30, 40].min()") is True
    with pytest.raises(ValueError, match="max called on empty list"):
        cel("[].max()")


@pytest.mark.parametrize(
    ("expression", "expected"),
    [case("[1, 2, 2, 3].indexOf(2)", 1), case("[1.0].indexOf(1.1)", -1), case("[].indexOf('string')", -1)],
)
def test_index_of(expression: str, expected: int) -> None:
    assert cel(expression) == expected


def test_last_index_of() -> None:
    assert cel("['a', 'b', 'b', 'c'].lastIndexOf('b')") == 2
    assert cel("'abcb'.lastIndexOf('b')") == 3  # the strings extension's own overload is still there


# --- sets ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        case("sets.contains([], [])", True),
        case("sets.contains([], [1])", False),
        case("sets.contains([1, 2, 3, 4], [2, 3])", True),
        case("sets.contains([1, 2.0, 3u], [1.0, 2u, 3])", True),
    ],
)
def test_sets_contains(expression: str, expected: bool) -> None:
    assert cel(expression) is expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        case("sets.equivalent([], [])", True),
        case("sets.equivalent([1], [1, 1])", True),
        case("sets.equivalent([1], [1u, 1.0])", True),
        case("sets.equivalent([1, 2, 3], [3u, 2.0, 1])", True),
        case("sets.equivalent([1, 2], [2, 2, 2])", False),
    ],
)
def test_sets_equivalent(expression: str, expected: bool) -> None:
    assert cel(expression) is expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        case("sets.intersects([1], [])", False),
        case("sets.intersects([1], [1, 2])", True),
        case("sets.intersects([1], [1.0, 2])", True),
    ],
)
def test_sets_intersects(expression: str, expected: bool) -> None:
    assert cel(expression) is expected


# --- quantity -----------------------------------------------------------------------------------------
def test_quantity() -> None:
    assert cel("quantity('1.5G') == quantity('1500M')") is True
    assert cel("quantity('200k') == quantity('200000')") is True
    for bad in ("200K", "Three", "Mi"):
        with pytest.raises(ValueError, match="quantities must match"):
            cel(f"quantity('{bad}')")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1.3G", True), ("1.3Gi", True), ("1,3G", False), ("10000k", True), ("200K", False), ("Three", False), ("Mi", False)],
)
def test_is_quantity(text: str, expected: bool) -> None:
    assert cel(f"isQuantity('{text}')") is expected


def test_is_integer_and_as_integer() -> None:
    assert cel("quantity('50000000G').isInteger()") is True
    assert cel("quantity('50k').isInteger()") is True
    assert cel("quantity('9999999999999999999999999999999999999G').isInteger()") is False
    assert cel("quantity('50k').asInteger() == 50000") is True
    with pytest.raises(ValueError, match="cannot convert value to integer"):
        cel("quantity('9999999999999999999999999999999999999G').asInteger()")


def test_as_approximate_float() -> None:
    assert cel("quantity('50k').sub(20000).asApproximateFloat() == 30000.0") is True
    assert cel("quantity('9999999999999999999999999999999999999G').asApproximateFloat() > 1e45") is True


def test_sign() -> None:
    assert [cel(f"sign(quantity('{q}'))") for q in ("50k", "-1m", "0")] == [1, -1, 0]


def test_add_and_sub() -> None:
    assert cel("quantity('50k').add(quantity('20k')) == quantity('70k')") is True
    assert cel("quantity('50k').add(20) == quantity('50020')") is True
    assert cel("quantity('50k').sub(quantity('20k')) == quantity('30k')") is True
    assert cel("quantity('50k').sub(20000) == quantity('30k')") is True
    assert cel("quantity('50k').add(20).sub(quantity('100k')).sub(-50000) == quantity('20')") is True


def test_mul() -> None:
    assert cel("quantity('50k').mul(2) == quantity('100k')") is True


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        case("quantity('200M').compareTo(quantity('0.2G'))", 0),
        case("quantity('50M').compareTo(quantity('50Mi'))", -1),
        case("quantity('50Mi').compareTo(quantity('50M'))", 1),
    ],
)
def test_compare_to(expression: str, expected: int) -> None:
    assert cel(expression) == expected


def test_is_greater_than_and_is_less_than() -> None:
    assert cel("quantity('150Mi').isGreaterThan(quantity('100Mi'))") is True
    assert cel("quantity('50Mi').isGreaterThan(quantity('100Mi'))") is False
    assert cel("quantity('50M').isLessThan(quantity('100M'))") is True
    assert cel("quantity('100M').isLessThan(quantity('50M'))") is False


# --- URL ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://example.com:80/", True),
        ("https://example.com/path", True),
        ("/absolute-path", True),
        ("https://a:b:c/", False),
        ("../relative-path", False),
    ],
)
def test_is_url(text: str, expected: bool) -> None:
    assert cel(f"isURL('{text}')") is expected


def test_url() -> None:
    assert cel("url('/absolute-path').getEscapedPath()") == "/absolute-path"
    with pytest.raises(ValueError, match="URL parse error"):
        cel("url('../relative-path')")


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        case("url('https://example.com/path').getScheme()", "https"),
        case("url('https://example.com:80/path').getHost()", "example.com:80"),
        case("url('https://[::1]:80/path').getHost()", "[::1]:80"),
        case("url('https://example.com:80/path').getHostname()", "example.com"),
        case("url('https://[::1]:80/path').getHostname()", "::1"),
        case("url('https://example.com:80/path').getPort()", "80"),
        case("url('https://example.com/path').getPort()", ""),
        case("url('https://example.com/path').getEscapedPath()", "/path"),
        case("url('https://example.com/path with spaces/').getEscapedPath()", "/path%20with%20spaces/"),
        case("url('https://example.com/?k=v&k=v2').getQuery()", {"k": ["v", "v2"]}),
        case("url('https://example.com/?k=v&k=v2').getQuery()['k'][1]", "v2"),
    ],
)
def test_url_accessors(expression: str, expected: Any) -> None:
    assert cel(expression) == expected


# --- IP -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("127.0.0.256", False),
        (":::1", False),
        ("fe80::1%eth0", False),
        ("::ffff:1.2.3.4", False),
    ],
)
def test_is_ip(text: str, expected: bool) -> None:
    assert cel(f"isIP('{text}')") is expected


def test_ip_and_string() -> None:
    assert cel("string(ip('127.0.0.1'))") == "127.0.0.1"
    assert cel("ip('127.0.0.1') == ip('127.0.0.1')") is True
    assert cel("ip('2001:db8::abc') == ip('2001:DB8::ABC')") is True
    with pytest.raises(ValueError, match="zone value is not allowed"):
        cel("ip('fe80::1%eth0')")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("127.0.0.1", True), ("::1", True), ("2001:db8::abc", True), ("2001:DB8::ABC", False), ("2001:db8:0:0:0:0:0:abc", False)],
)
def test_ip_is_canonical(text: str, expected: bool) -> None:
    assert cel(f"ip.isCanonical('{text}')") is expected


def test_family() -> None:
    assert cel("ip('127.0.0.1').family()") == 4
    assert cel("ip('::1').family()") == 6


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        case("ip('0.0.0.0').isUnspecified()", True),
        case("ip('127.0.0.1').isUnspecified()", False),
        case("ip('::').isUnspecified()", True),
        case("ip('127.0.0.1').isLoopback()", True),
        case("ip('192.168.0.1').isLoopback()", False),
        case("ip('::1').isLoopback()", True),
        case("ip('224.0.0.1').isLinkLocalMulticast()", True),
        case("ip('224.0.1.1').isLinkLocalMulticast()", False),
        case("ip('ff02::1').isLinkLocalMulticast()", True),
        case("ip('169.254.169.254').isLinkLocalUnicast()", True),
        case("ip('192.168.0.1').isLinkLocalUnicast()", False),
        case("ip('fe80::1').isLinkLocalUnicast()", True),
        case("ip('192.168.0.1').isGlobalUnicast()", True),
        case("ip('255.255.255.255').isGlobalUnicast()", False),
        case("ip('2001:db8::abc').isGlobalUnicast()", True),
        case("ip('ff00::1').isGlobalUnicast()", False),
    ],
)
def test_ip_classes(expression: str, expected: bool) -> None:
    assert cel(expression) is expected


# --- CIDR ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"), [("192.168.0.0/24", True), ("192.168.0.0", False), ("192.168.0.0/33", False), ("::1/128", True)]
)
def test_is_cidr(text: str, expected: bool) -> None:
    assert cel(f"isCIDR('{text}')") is expected


def test_cidr_and_string() -> None:
    assert cel("string(cidr('192.168.0.0/24'))") == "192.168.0.0/24"
    assert cel("cidr('192.168.0.0/24') == cidr('192.168.0.0/24')") is True
    with pytest.raises(ValueError, match="bad bits"):
        cel("cidr('192.168.0.0')")


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        case("cidr('192.168.0.0/24').containsIP(ip('192.168.0.1'))", True),
        case("cidr('192.168.0.0/24').containsIP(ip('192.168.1.1'))", False),
        case("cidr('192.168.0.0/24').containsIP('192.168.0.1')", True),
        case("cidr('192.168.0.0/24').containsIP('::1')", False),
    ],
)
def test_contains_ip(expression: str, expected: bool) -> None:
    assert cel(expression) is expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        case("cidr('192.168.0.0/24').containsCIDR(cidr('192.168.0.0/25'))", True),
        case("cidr('192.168.0.0/24').containsCIDR(cidr('192.168.0.0/23'))", False),
        case("cidr('192.168.0.0/24').containsCIDR('192.168.0.0/25')", True),
        case("cidr('192.168.0.0/24').containsCIDR('192.168.1.0/25')", False),
    ],
)
def test_contains_cidr(expression: str, expected: bool) -> None:
    assert cel(expression) is expected


def test_cidr_ip_masked_and_prefix_length() -> None:
    assert cel("cidr('192.168.0.1/24').ip() == ip('192.168.0.1')") is True
    assert cel("cidr('192.168.0.1/24').masked() == cidr('192.168.0.0/24')") is True
    assert cel("cidr('192.168.0.0/24').prefixLength()") == 24
    assert cel("cidr('::1/128').ip().family()") == 6


# --- format -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "valid", "invalid"),
    [
        ("dns1123Label", "my-label-name", "My_Label"),
        ("dns1123Subdomain", "apiextensions.k8s.io", "-apiextensions.k8s.io"),
        ("dns1035Label", "my-label-name", "1-label"),
        ("qualifiedName", "apiextensions.k8s.io/v1beta1", "a/b/c"),
        ("dns1123LabelPrefix", "my-label-prefix-", "-my-label-prefix"),
        ("dns1123SubdomainPrefix", "mysubdomain.prefix.-", "MySubdomain."),
        ("dns1035LabelPrefix", "my-label-prefix-", "1-my-label-prefix-"),
        ("labelValue", "my_value", "-my-value"),
        ("uri", "http://example.com", "example.com"),
        ("uuid", "123e4567-e89b-12d3-a456-426614174000", "123e4567"),
        ("byte", "aGVsbG8=", "aGVsbG8"),
        ("date", "2021-01-01", "2021-13-01"),
        ("datetime", "2021-01-01T00:00:00Z", "2021-01-01 noon"),
    ],
)
def test_format_validate(name: str, valid: str, invalid: str) -> None:
    assert cel(f"format.{name}().validate('{valid}').hasValue()") is False
    assert cel(f"format.{name}().validate('{invalid}').hasValue()") is True
    assert cel(f"format.named('{name}').value().validate('{invalid}').value().size() > 0") is True


def test_format_named() -> None:
    assert cel("format.named('dns1123Label').hasValue()") is True
    assert cel("format.named('nonsense').hasValue()") is False
    errors = cel("format.dns1123Label().validate('MY').value()")
    assert errors and "a lowercase RFC 1123 label must consist of" in errors[0]


def test_rewrite_leaves_string_literals_alone() -> None:
    assert kube_cel.rewrite("x.validate('a.validate(b)')") == "x.validate('a.validate(b)')[?\"value\"]"
    assert kube_cel.rewrite("format.named(n).value().validate(s).hasValue()") == (
        'format.named(n)[?"value"].value().validate(s)[?"value"].hasValue()'
    )
    assert kube_cel.rewrite("self.size() > 0") == "self.size() > 0"
    assert kube_cel.without_strings("oldSelf == 'oldSelf'") == 'oldSelf == ""'
