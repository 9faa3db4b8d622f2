"""The rule "Always allow" proposes for each argument (issue #36): an address's domain, a URL's site, the call's
value for the rest: never "any value" while something narrower is offered (issue #45 item 10: a rule proposed
from a body "wire 50000 USD to account 12345" approved every body)."""

from __future__ import annotations

from bot.core.allow_rules import Condition, proposed_condition

TEXT_OPS = ("any", "equals", "one_of", "starts_with", "ends_with")


def test_an_email_address_proposes_its_domain() -> None:
    assert proposed_condition("bob@example.com", TEXT_OPS) == Condition("ends_with", "@example.com")


def test_a_url_proposes_its_site() -> None:
    assert proposed_condition("https://docs.example.com/a/b?c=1", TEXT_OPS) == Condition(
        "starts_with", "https://docs.example.com/"
    )


def test_free_text_and_money_propose_the_calls_value_never_any_value() -> None:
    assert proposed_condition("Hello,\nPrices change.", TEXT_OPS) == Condition("equals", "Hello,\nPrices change.")
    body = "wire 50000 USD to account 12345, today, as agreed with finance"
    assert proposed_condition(body, TEXT_OPS) == Condition("equals", body)
    assert proposed_condition(50000, ("any", "equals", "one_of", "at_most")) == Condition("equals", 50000)
    assert proposed_condition("50000.00 USD", TEXT_OPS) == Condition("equals", "50000.00 USD")


def test_short_values_propose_the_calls_value() -> None:
    assert proposed_condition("Price change", TEXT_OPS) == Condition("equals", "Price change")
    assert proposed_condition(3, ("any", "equals", "one_of", "at_most")) == Condition("equals", 3)
    assert proposed_condition("bob@example.com", ("any", "equals")) == Condition("equals", "bob@example.com")
    assert proposed_condition({"a": 1}, ("any",)) == Condition("any")
