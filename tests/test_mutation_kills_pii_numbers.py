"""Tests that pin the number validators of src/sanchaek/text/pii_numbers.py one by one (`make
mutation`, reports/quality/mutation.json): Luhn and EAN-13 on published examples, the resident
number's date (leap years, centuries) and check digit by its published weights, every card network's
prefixes and lengths, year ranges, phone shapes, bank account shapes and their contexts."""

from __future__ import annotations

import pytest

from sanchaek.text.pii_numbers import (
    _account_shape,
    _date_like,
    _phone_national,
    _Run,
    _service_number,
    _timestamp,
    _year_range,
    card_network_ok,
    classify_number,
    ean13_ok,
    luhn_ok,
    rrn_check_ok,
    rrn_date_ok,
)


def test_luhn_and_ean13_on_published_examples():
    assert luhn_ok("79927398713") and not luhn_ok("79927398710")  # Wikipedia's Luhn example
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert luhn_ok("5500000000000004") and luhn_ok("0") and not luhn_ok("1")
    assert ean13_ok("4006381333931") and not ean13_ok("4006381333932")  # Wikipedia's EAN-13 example
    assert ean13_ok("9780306406157") and not ean13_ok("9780306406158")  # ISBN 978-0-306-40615-7


def _with_check(first12: str) -> str:
    """The resident number's check digit by its published rule: weights 2-9, 2-5; (11 - sum % 11) % 10."""
    weights = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)
    total = sum(int(d) * w for d, w in zip(first12, weights, strict=True))
    return first12 + str((11 - total % 11) % 10)


@pytest.mark.parametrize("first12", ["851130274651", "000229412345", "991231123456", "010101300000"])
def test_the_rrn_check_digit(first12):
    good = _with_check(first12)
    assert rrn_check_ok(good)
    assert not rrn_check_ok(good[:12] + str((int(good[12]) + 1) % 10))


@pytest.mark.parametrize(
    ("digits", "ok"),
    [
        ("0002293", True),  # 2000 (3: born in the 2000s) is a leap year
        ("0002291", False),  # 1900 is not
        ("0402293", True), ("0102293", False), ("9602291", True), ("0002299", False),  # 1800: not leap
        ("9602285", True), ("9602296", True), ("0402297", True), ("0402298", True), ("1602290", True),  # 1816
        ("8513011", False), ("8500011", False), ("8501001", False),  # month 13, month 0, day 0
        ("8504311", False), ("8504301", True), ("8501311", True), ("8512311", True), ("8502291", False),
        ("8502281", True), ("8511302", True),
    ],
)  # fmt: skip
def test_the_rrn_birth_date(digits, ok):
    assert rrn_date_ok(digits + "000000") is ok


DINERS, UNIONPAY = (14, 15, 16, 17, 18, 19), (16, 17, 18, 19)


@pytest.mark.parametrize(
    ("prefix", "lengths"),
    [
        ("4", (13, 16, 19)), ("51", (16,)), ("52", (16,)), ("53", (16,)), ("54", (16,)), ("55", (16,)),
        ("2221", (16,)), ("2500", (16,)), ("2720", (16,)), ("34", (15,)), ("37", (15,)),
        ("35", (16, 17, 18, 19)), ("30", DINERS), ("36", DINERS), ("38", DINERS), ("39", DINERS),
        ("60", UNIONPAY), ("62", UNIONPAY), ("64", UNIONPAY), ("65", UNIONPAY), ("81", UNIONPAY), ("9", (16,)),
        ("2220", ()), ("2721", ()), ("56", ()), ("1", ()), ("33", ()), ("61", ()),
    ],
)  # fmt: skip
def test_card_networks_by_prefix_and_length(prefix, lengths):
    for n in range(12, 21):
        digits = (prefix + "0" * 20)[:n]
        assert card_network_ok(digits) is (n in lengths), (prefix, n)


def test_year_ranges_dates_and_timestamps():
    assert _year_range(["1592", "1598"]) and _year_range(["1950", "2099"]) and _year_range(["1000", "1150"])
    assert not _year_range(["1000", "1151"])  # more than 150 years
    assert not _year_range(["1999", "1999"]) and not _year_range(["1598", "1592"])
    assert not _year_range(["0999", "1000"]) and not _year_range(["2000", "2100"])
    assert not _year_range(["159", "1598"]) and not _year_range(["1592", "159"])
    assert not _year_range(["1592", "1598", "1600"])
    assert _date_like(["2023", "12"]) and _date_like(["1899", "01", "31"]) and _date_like(["2001", "00"])
    assert not _date_like(["2023", "13"]) and not _date_like(["2123", "01"]) and not _date_like(["2023"])
    assert not _date_like(["202", "01"]) and not _date_like(["1799", "01"])
    assert _timestamp("20231231235959") and _timestamp("19990101000000")
    assert not _timestamp("20231331235959") and not _timestamp("20230031235959")
    assert not _timestamp("2023123123595") and not _timestamp("21231231235959")


def test_service_numbers():
    assert _service_number(["1588", "1234"]) and _service_number(["1644", "0000"]) and _service_number(["1800", "1234"])
    assert not _service_number(["1592", "1598"])  # a year range
    assert not _service_number(["1788", "1234"]) and not _service_number(["158", "1234"])
    assert not _service_number(["1588", "123"]) and not _service_number(["1588", "1234", "5678"])


@pytest.mark.parametrize(
    ("digits", "lengths", "intl", "ok"),
    [
        ("01028473961", (3, 4, 4), False, True), ("01028473961", (11,), False, True),
        ("0212345678", (2, 4, 4), False, True), ("021234567", (2, 3, 4), False, True),
        ("021234567", (2, 7), False, True), ("0212345678", (6, 4), False, True),
        ("01028473961", (7, 4), False, True), ("01028473961", (3, 8), False, True),
        ("01028473961", (4, 3, 4), False, False), ("01028473961", (3, 5, 3), False, False),
        ("01028473961", (3, 4, 3, 1), False, False), ("01028473961", (5, 6), False, False),
        ("01028473961", (2, 4, 4), True, True), ("0212345678", (1, 4, 4), True, True),
        ("01028473961", (3, 4, 4), True, False), ("0312345678", (3, 3, 4), False, True),
        ("0701234567", (3, 3, 4), False, True), ("05021234567", (4, 3, 4), False, True),
        ("0111234567", (3, 3, 4), False, True), ("0121234567", (3, 3, 4), False, False),
        ("0661234567", (3, 3, 4), False, False), ("0212345", (2, 3, 2), False, False),
    ],
)  # fmt: skip
def test_phone_shapes(digits, lengths, intl, ok):
    assert _phone_national(digits, lengths, intl=intl) is ok


@pytest.mark.parametrize(
    ("groups", "before", "ok"),
    [
        (["123456", "12", "123456"], "", True), (["1002", "123", "456789"], "", True),
        (["1234", "123", "456789"], "", False), (["1234", "123", "456789"], "우리은행 ", True),
        (["3333", "12", "1234567"], "", True), (["1234", "12", "1234567"], "", False),
        (["9002", "1234", "5678", "9"], "", True), (["8002", "1234", "5678", "9"], "", False),
        (["2023", "12", "123456"], "", False),  # a bank's shape, but a date
        (["2023", "12", "123456"], "입금 ", False),
        (["12345678901"], "계좌번호: ", True), (["12345678901"], "", False),
        (["12345", "678901"], "계좌 ", False),  # two groups: not an account shape even with the word
        (["123", "4567", "8901"], "송금" + " " * 40, False),  # the word is too far before
        (["123", "4567", "8901"], "송금" + " " * 27, True),
    ],
)  # fmt: skip
def test_account_shapes_and_context(groups, before, ok):
    assert _account_shape(groups, before) is ok


def run(groups, seps=None, intl=False, before=""):
    return _Run(groups, seps or ["-"] * (len(groups) - 1), intl, before)


def test_classification_of_runs():
    rrn = _with_check("851130274651")
    assert classify_number(run([rrn[:6], rrn[6:]])) == "rrn"
    assert classify_number(run([rrn])) == "rrn"
    assert classify_number(run([rrn[:12] + str((int(rrn[12]) + 1) % 10)])) is None  # solid: the check digit counts
    assert classify_number(run(["851330", "2746510"])) is None  # month 13
    barcode = "8801011000032"  # 880: a Korean EAN barcode that also passes as a resident number
    assert ean13_ok(barcode) and rrn_date_ok(barcode) and rrn_check_ok(barcode)
    assert classify_number(run([barcode])) is None
    assert classify_number(run([barcode], before="주민등록번호 ")) == "rrn"
    assert classify_number(run(["4111", "1111", "1111", "1111"])) == "card"
    assert classify_number(run(["4111", "1111", "1111", "1111"], seps=[".", ".", "."])) is None
    assert classify_number(run(["4111111111111111"], before="ISBN ")) is None
    assert classify_number(run(["9780306406157"])) is None  # an ISBN-13 by its check digit
    assert classify_number(run(["010", "2847", "3961"])) == "phone"
    assert classify_number(run(["10", "2847", "3961"], intl=True)) == "phone"
    assert classify_number(run(["1588", "1234"])) == "phone"
    assert classify_number(run(["110", "123", "456789"])) == "account"
    assert classify_number(run(["110", "123", "456789"], seps=[".", "."])) is None
    assert classify_number(run(["1592", "1598"])) is None


def test_every_month_length_and_leap_year_against_the_calendar():
    import calendar

    centuries = {"1": 1900, "2": 1900, "5": 1900, "6": 1900, "3": 2000, "4": 2000, "7": 2000, "8": 2000,
                 "9": 1800, "0": 1800}  # fmt: skip
    for digit, century in centuries.items():
        for yy in (0, 1, 2, 4, 96, 97):
            year = century + yy
            for month in range(1, 13):
                last = calendar.monthrange(year, month)[1]
                base = f"{yy:02d}{month:02d}"
                assert rrn_date_ok(f"{base}{last:02d}{digit}000000"), (year, month)
                assert not rrn_date_ok(f"{base}{last + 1:02d}{digit}000000"), (year, month)


def test_check_digits_of_zero_and_short_year_groups():
    assert ean13_ok("0000000000000") and ean13_ok("9791234567896")
    assert not _year_range(["1000", "01100"])  # a second group of five digits is no year
    assert _date_like(["1999", "01"])


def test_classification_edges():
    assert classify_number(run(["12", "3456", "7890"], intl=True)) is None  # +82 and no Korean phone shape
    for isbn in ("9780306406157", "9791234567896"):  # would be an account after 입금 if not an ISBN
        assert classify_number(run([isbn], before="입금 ")) is None
    assert classify_number(run(["4222222222222"])) == "card"  # 13 digits: the shortest Visa
    assert classify_number(run(["4111111111111111110"])) == "card"  # 19 digits: the longest
    assert classify_number(run(["4111", "1111", "1111", "1111", "110"])) == "card"  # five groups
    assert classify_number(run(["351", "111", "111", "111", "111", "116"])) is None  # six groups: no card
    assert classify_number(run(["123", "12", "12345"])) == "account"  # 10 digits in a bank's shape
    assert classify_number(run(["123456789012345"], before="계좌 ")) is None  # 15 digits: too long
    assert classify_number(run(["12345678901234"], before="계좌 ")) == "account"  # 14: the longest


def test_account_context_reach_and_group_counts():
    assert not _account_shape(["123", "4567", "8901"], "송금" + " " * 29)  # 31 characters back: out of reach
    assert _account_shape(["12", "3456", "7890", "12"], "계좌 ")  # four groups of no bank's shape
    assert not _account_shape(["12", "3456", "7890", "12", "3"], "계좌 ")
