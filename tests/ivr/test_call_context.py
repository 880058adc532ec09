"""The call's context is the condition language's four roots, live."""

from ivr.conditions import parse
from ivr.context import CallContext


def _context() -> CallContext:
    return CallContext(
        call_id="c-1", flow="main", caller_number="+15551234567", caller_name="Ann", dnis="7000"
    )


def test_the_context_has_the_five_roots_of_the_condition_language() -> None:
    context = _context()
    assert sorted(context) == ["call", "caller", "customer", "queue", "vars"]
    assert context["queue"] == {}  # no queue state read yet
    assert context["caller"] == {"number": "+15551234567", "name": "Ann"}
    assert context["call"] == {"dnis": "7000", "id": "c-1", "flow": "main"}
    assert context["customer"] == {"found": False, "count": 0}
    assert context["vars"] == {}
    assert context.get("nothing") is None


def test_conditions_and_templates_read_the_call_and_the_caller() -> None:
    context = _context()
    assert parse('caller.number == "+15551234567" and call.dnis == "7000"').evaluate(context)
    assert context.value("call.id") == "c-1"
    assert context.value("caller.name") == "Ann"
    assert context.value("nowhere.name") is None


def test_variables_and_the_customer_are_live() -> None:
    context = _context()
    condition = parse('vars.account == "42" and customer.tier == "gold"')
    assert not condition.evaluate(context.conditions)
    context.vars["account"] = "42"
    context.customer_found({"tier": "gold"}, 1)
    assert condition.evaluate(context.conditions)
    assert context["customer"] == {"tier": "gold", "found": True, "count": 1, "matches": 1}
