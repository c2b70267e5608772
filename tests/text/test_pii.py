"""Personal data masking: valid numbers of each kind are masked, look-alikes are left alone.

Valid resident ids and bank cards are built here by computing their check digits, so every
number below is checkable by hand."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from servq.text.pii import (
    PiiConfig,
    find_pii,
    luhn_ok,
    mask,
    mask_many,
    valid_resident_id,
)

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def with_id_check(first17: str) -> str:
    """GB 11643-1999: weighted sum mod 11 picks the check character from 10X98765432."""
    total = sum(int(c) * w for c, w in zip(first17, WEIGHTS, strict=True))
    return first17 + "10X98765432"[total % 11]


def with_luhn(prefix: str) -> str:
    for d in "0123456789":
        if luhn_ok(prefix + d):
            return prefix + d
    raise AssertionError("unreachable: one digit always completes a Luhn number")


def wrong_last(number: str) -> str:
    last = number[-1]
    return number[:-1] + ("1" if last in "Xx0" else "0")


ID_A = with_id_check("11010519491231002")  # the standard's own example: ...002X
ID_B = with_id_check("44030419900307123")
CARD_16 = with_luhn("622202123456789")
CARD_19 = with_luhn("621700012345678901")


def test_the_check_digits_built_here() -> None:
    assert ID_A == "11010519491231002X"  # example printed in GB 11643-1999
    assert luhn_ok("79927398713")  # the textbook Luhn example
    assert not luhn_ok("79927398710")
    assert luhn_ok("4111 1111 1111 1111") and luhn_ok("4111-1111-1111-1111")
    assert not luhn_ok("") and not luhn_ok("7") and not luhn_ok("4111a111")


def test_resident_id_validator() -> None:
    assert valid_resident_id(ID_A) and valid_resident_id(ID_A.lower())
    assert valid_resident_id(ID_B)
    assert not valid_resident_id(wrong_last(ID_A))
    assert not valid_resident_id(ID_A[:-1])
    assert not valid_resident_id(with_id_check("99010519491231002"))  # no province 99
    assert not valid_resident_id(with_id_check("11010519490231002"))  # 31 February
    future = (date.today() + timedelta(days=400)).strftime("%Y%m%d")
    assert not valid_resident_id(with_id_check("110105" + future + "002"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("电话13812345678", "电话138****5678"),
        ("手机：138-1234-5678。", "手机：138-****-5678。"),
        ("call 138 1234 5678 now", "call 138 **** 5678 now"),
        ("+8613912345678", "+86139****5678"),
        ("+86 159 1234 5678", "+86 159 **** 5678"),
        ("0086-18612345678", "0086-186****5678"),
        ("(+86)19912345678", "(+86)199****5678"),
        ("座机010-12345678", "座机010-****5678"),
        ("(021)12345678", "(021)****5678"),
        ("0755-1234567", "0755-***4567"),
        ("010-12345678转123", "010-****5678转***"),
        (f"身份证{ID_A}", "身份证110105********002X"),
        (f"ID {ID_B}.", f"ID 440304********{ID_B[-4:]}."),
        (f"卡号{CARD_16}", f"卡号****{CARD_16[-4:]}"),
        (f"card {CARD_19}", f"card ****{CARD_19[-4:]}"),
        ("邮箱zhang.san@example.com谢谢", "邮箱z***@example.com谢谢"),
        ("mail li_si+tag@mail.example.org.", "mail l***@mail.example.org."),
    ],
)
def test_partial_masking(text: str, expected: str) -> None:
    assert mask(text) == expected


def test_grouped_card_numbers() -> None:
    grouped = " ".join(CARD_16[i : i + 4] for i in range(0, 16, 4))
    dashed = "-".join(CARD_16[i : i + 4] for i in range(0, 16, 4))
    assert mask(f"卡号 {grouped} 谢谢") == f"卡号 ****{CARD_16[-4:]} 谢谢"
    assert [m.kind for m in find_pii(dashed)] == ["bank_card"]
    groups19 = " ".join(CARD_19[i : i + 4] for i in range(0, 19, 4))
    assert [(m.kind, m.value) for m in find_pii(f"x {groups19} y")] == [("bank_card", groups19)]


def test_matches_say_kind_position_and_value() -> None:
    text = f"张三 13812345678 {ID_A} a@b.cn"
    got = [(m.kind, m.start, m.end, m.value) for m in find_pii(text)]
    assert got == [
        ("mobile", 3, 14, "13812345678"),
        ("resident_id", 15, 33, ID_A),
        ("email", 34, 40, "a@b.cn"),
    ]


@pytest.mark.parametrize(
    "text",
    [
        f"身份证{wrong_last(ID_A)}",  # wrong check character
        f"订单号{wrong_last(CARD_16)}",  # 16 digits failing Luhn
        f"单号{wrong_last(CARD_19)}",  # 19 digits failing Luhn
        "流水号" + "1" * 25,  # a run of 25 digits holds nothing
        "序列号" + "13812345678" + "0" * 10,  # a mobile number inside a longer run
        "9" + CARD_16 + "9999",  # a card inside 21 digits
        "时间20250101123000",  # a timestamp
        f"订单{with_luhn('202501011230001')}",  # starts with a date: an order number
        "金额13800.00元，余额¥1,234,567.89",
        "12812345678",  # 11 digits not starting 1[3-9]
        "10312345678",
        "价格是0.13812345678",  # after a decimal point
        "13812345678.5",
        "版本 2.0.1, build 123456",
        "0123456789",
        "邮箱格式错误 zhang@ 和 @example.com",
    ],
)
def test_look_alikes_are_left_alone(text: str) -> None:
    assert find_pii(text) == []
    assert mask(text) == text


def test_styles() -> None:
    text = f"电话13812345678，卡{CARD_16}，邮箱a.b@x.com"
    assert mask(text, PiiConfig(style="token")) == "电话[手机号]，卡[银行卡号]，邮箱[邮箱]"
    assert mask(text, PiiConfig(style="token", token_lang="en")) == (
        "电话[PHONE]，卡[BANK_CARD]，邮箱[EMAIL]"
    )
    assert mask(text, PiiConfig(style="full")) == (
        "电话" + "*" * 11 + "，卡" + "*" * 16 + "，邮箱" + "*" * 9
    )
    per_kind = PiiConfig(styles={"email": "token"}, mask_char="#")
    assert mask(text, per_kind) == f"电话138####5678，卡####{CARD_16[-4:]}，邮箱[邮箱]"


def test_only_the_kinds_asked_for() -> None:
    text = f"13812345678 {ID_A}"
    assert mask(text, PiiConfig(kinds=frozenset({"resident_id"}))) == (
        "13812345678 110105********002X"
    )


def test_config_from_a_plain_dict() -> None:
    cfg = PiiConfig.from_dict({"kinds": ["mobile", "email"], "style": "token", "token_lang": "en"})
    assert cfg.kinds == frozenset({"mobile", "email"}) and cfg.style == "token"
    assert mask(f"13812345678 {ID_A}", cfg) == f"[PHONE] {ID_A}"
    assert PiiConfig.from_dict(None) == PiiConfig()
    with pytest.raises(ValueError, match="colour, sizes"):
        PiiConfig.from_dict({"style": "full", "colour": "red", "sizes": 3})
    with pytest.raises(ValueError, match="passport"):
        PiiConfig.from_dict({"kinds": ["mobile", "passport"]})
    with pytest.raises(ValueError, match="unknown style 'blur'"):
        PiiConfig.from_dict({"style": "blur"})
    with pytest.raises(ValueError, match="kinds"):
        PiiConfig.from_dict({"kinds": "mobile"})


def test_mask_many_handles_none_and_empty() -> None:
    assert mask_many(["13812345678", None, "", "无"]) == ["138****5678", "", "", "无"]


# -- properties -----------------------------------------------------------------------------------
PROVINCES = ["11", "31", "44", "51", "65", "82"]


@st.composite
def resident_ids(draw: st.DrawFn) -> str:
    province = draw(st.sampled_from(PROVINCES))
    area = draw(st.integers(0, 9999))
    born = draw(st.dates(date(1900, 1, 1), date(2020, 12, 31)))
    seq = draw(st.integers(0, 999))
    return with_id_check(f"{province}{area:04d}{born:%Y%m%d}{seq:03d}")


@st.composite
def card_numbers(draw: st.DrawFn) -> str:
    prefix = draw(st.sampled_from(["6011", "9558", "4000"]))
    length = draw(st.integers(16, 19))
    body = draw(st.text("0123456789", min_size=length - 5, max_size=length - 5))
    return with_luhn(prefix + body)


@settings(max_examples=200, deadline=None)
@given(
    resident_ids(), st.sampled_from(["身份证", "ID: ", "号码 "]), st.sampled_from(["", "。", " ok"])
)
def test_any_valid_id_is_masked_and_a_wrong_check_is_not(
    number: str, before: str, after: str
) -> None:
    assert valid_resident_id(number)
    assert mask(before + number + after) == before + number[:6] + "*" * 8 + number[14:] + after
    wrong = wrong_last(number)
    assert find_pii(before + wrong + after) == []


@settings(max_examples=200, deadline=None)
@given(card_numbers(), st.sampled_from(["卡号", "card ", ""]))
def test_any_valid_card_is_masked_and_a_wrong_check_is_not(number: str, before: str) -> None:
    assert [m.kind for m in find_pii(before + number)] == ["bank_card"]
    assert mask(before + number) == before + "****" + number[-4:]
    assert find_pii(before + wrong_last(number)) == []


@settings(max_examples=200, deadline=None)
@given(st.sampled_from("3456789"), st.text("0123456789", min_size=9, max_size=9))
def test_any_mobile_is_masked_unless_inside_longer_digits(second: str, rest: str) -> None:
    number = "1" + second + rest
    assert mask(f"电话{number}。") == f"电话{number[:3]}****{number[-4:]}。"
    assert find_pii(f"编号{number}7") == [] and find_pii(f"编号5{number}") == []
