"""The condition language of `branch` nodes: small, safe, and never `eval`.

A condition is parsed once (at load or lint time) into a tree, then evaluated
against the call's context as often as needed. Nothing in it can call a function,
read an attribute, loop or allocate without bound: it is a comparison language,
not a programming language.

Names (always `root.field`):

    vars.X             a variable an `input` node stored (text, e.g. "0042")
    customer.X         a field of the customer a `lookup` found: id, name, tier,
                       language, account, open_cases, ... (whatever the CRM gives)
    customer.found     true once a lookup found the caller (one customer), else false
    customer.count     how many customers the last lookup matched (0 before any;
                       2 or more: a shared number, and no other customer.X is set)
    caller.number      the caller ID number, as the PBX gave it
    caller.name        the caller ID name
    call.dnis          the number the caller dialled
    call.id            the call id
    call.flow          the flow being walked
    queue.Q.X          the state of queue Q (two dots: `queue.billing.ewt_s`): callers,
                       longest_wait_s, logged_in, available, paused, ewt_s, open, full;
                       read through the services within the lookup budget each time a
                       branch that names it is entered (null when unknown)

A name that has no value (a variable never set, a field the CRM did not send,
every `customer.X` before a lookup) is `null`; a condition never fails at run time.

Literals: strings in double or single quotes (escapes `\\\\`, `\\"`, `\\'`, `\\n`,
`\\t`), integers and decimals (`42`, `-3`, `2.5`), `true`, `false`, `null`, and
lists of literals `["vip", "gold"]`.

Operators, loosest first:

    or                 either side true
    and                both sides true
    not                the negation
    == !=              equal, not equal
    < <= > >=          order
    in, not in         membership in a list, or substring of a string
    startswith         text starts with, e.g. caller.number startswith "+44"
    endswith           text ends with
    matches            the whole text matches a regular expression (a string literal)
    ( )                grouping

Comparisons do not chain (`1 < x < 3` is an error: write `1 < x and x < 3`).

How values compare. Keys typed on a phone are text, CRM fields may be numbers:
- a string of digits compared with a number is read as a number
  (`vars.choice == 1` is true when the caller typed `1`, `vars.amount > 100` works);
- two strings compare as text for `==`/`!=`; for `<`, `<=`, `>`, `>=` two strings that
  are both numbers compare as numbers ("100" > "20"), otherwise as text;
- `null` equals only `null`, and any order comparison with `null` is false;
  `true`/`false` equal only themselves (true is not 1);
- `startswith`, `endswith`, `matches` and substring `in` read numbers as their digits
  and are false when either side is null.
A value used alone is true unless it is null, false, 0, "" or [].

Tiers are compared without regard to case: `crm import` stores them in lower case, a
CRM may send `VIP`, an admin may write `customer.tier == "VIP"`. The engine lower-cases
`customer.tier` when a lookup finds the caller, and a string (or list of strings)
compared with `customer.tier` is lower-cased when the condition is parsed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, TypeAlias

from ivr.comparison import COMPARE, Scalar, Value, as_text, truthy

__all__ = [
    "CALLER_FIELDS",
    "CALL_FIELDS",
    "QUEUE_FIELDS",
    "ROOTS",
    "Condition",
    "ConditionError",
    "Context",
    "Scalar",
    "Value",
    "parse",
]

Context: TypeAlias = Mapping[str, Mapping[str, Scalar]]
"""root (`vars`, `customer`, `caller`, `call`) -> field -> value."""

ROOTS: Final = ("vars", "customer", "caller", "call", "queue")
CALLER_FIELDS: Final = ("number", "name")
CALL_FIELDS: Final = ("dnis", "id", "flow")
QUEUE_FIELDS: Final = (
    "callers",
    "longest_wait_s",
    "logged_in",
    "available",
    "paused",
    "ewt_s",
    "open",
    "full",
)

# A condition is one line an admin writes in a flow file; these bounds keep a
# hostile or broken file from costing more than a few microseconds to parse.
MAX_LENGTH: Final = 2000
MAX_NESTING: Final = 32


class ConditionError(ValueError):
    """A condition that cannot be parsed. `offset` is the 0-based character offset
    in the source where the problem is; `str()` is the message alone, so the caller
    can prefix its own position (file:line:col)."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message, offset)
        self.message = message
        self.offset = offset

    def __str__(self) -> str:
        return self.message


# --- tokens -------------------------------------------------------------------------

_KEYWORDS: Final = frozenset(
    {"and", "or", "not", "in", "startswith", "endswith", "matches", "true", "false", "null"}
)
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*", re.ASCII)
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?![A-Za-z0-9_.])", re.ASCII)
_SYMBOLS: Final = ("==", "!=", "<=", ">=", "<", ">", "(", ")", "[", "]", ",")
_ESCAPES: Final = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t"}
# What people type from other languages, and what to write instead.
_MISTAKES: Final = {
    "&&": "write `and` instead of `&&`",
    "||": "write `or` instead of `||`",
    "=": "write `==` to compare",
    "!": "write `not` instead of `!`",
}


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "word", "keyword", "string", "number", "symbol", "end"
    text: str
    offset: int
    value: Scalar = None


def _string(source: str, start: int) -> tuple[str, int]:
    quote = source[start]
    out: list[str] = []
    i = start + 1
    while i < len(source):
        ch = source[i]
        if ch == quote:
            return "".join(out), i + 1
        if ch == "\\":
            if i + 1 >= len(source):
                break
            escaped = _ESCAPES.get(source[i + 1])
            if escaped is None:
                raise ConditionError(
                    f"unknown escape \\{source[i + 1]} in a string (use \\\\, \\\", \\', \\n or \\t)",
                    i,
                )
            out.append(escaped)
            i += 2
            continue
        out.append(ch)
        i += 1
    raise ConditionError("string not closed: add the closing quote", start)


def _tokenize(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    n = len(source)
    while i < n:
        ch = source[i]
        if ch in " \t\r\n":
            i += 1
            continue
        if ch in "\"'":
            text, end = _string(source, i)
            tokens.append(_Token("string", source[i:end], i, text))
            i = end
            continue
        m = _NUMBER.match(source, i)
        if m:
            text = m.group()
            value: Scalar = float(text) if "." in text else int(text)
            tokens.append(_Token("number", text, i, value))
            i = m.end()
            continue
        m = _WORD.match(source, i)
        if m:
            text = m.group()
            kind = "keyword" if text in _KEYWORDS else "word"
            tokens.append(_Token(kind, text, i))
            i = m.end()
            continue
        for mistake, hint in _MISTAKES.items():
            if source.startswith(mistake, i) and not source.startswith(("==", "!="), i):
                raise ConditionError(hint, i)
        for symbol in _SYMBOLS:
            if source.startswith(symbol, i):
                tokens.append(_Token("symbol", symbol, i))
                i += len(symbol)
                break
        else:
            raise ConditionError(f"unexpected character {ch!r}", i)
    tokens.append(_Token("end", "", n))
    return tokens


# --- the tree -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Literal:
    value: Value

    def evaluate(self, context: Context) -> Value:
        return self.value


@dataclass(frozen=True, slots=True)
class _Name:
    root: str
    field: str

    def evaluate(self, context: Context) -> Value:
        fields = context.get(self.root)
        if fields is None:
            return None
        return fields.get(self.field)


@dataclass(frozen=True, slots=True)
class _Compare:
    op: str
    left: _Expr
    right: _Expr
    pattern: re.Pattern[str] | None = None

    def evaluate(self, context: Context) -> Value:
        left = self.left.evaluate(context)
        if self.pattern is not None:
            text = as_text(left)
            return text is not None and self.pattern.fullmatch(text) is not None
        return COMPARE[self.op](left, self.right.evaluate(context))


@dataclass(frozen=True, slots=True)
class _Not:
    operand: _Expr

    def evaluate(self, context: Context) -> Value:
        return not truthy(self.operand.evaluate(context))


@dataclass(frozen=True, slots=True)
class _And:
    operands: tuple[_Expr, ...]

    def evaluate(self, context: Context) -> Value:
        return all(truthy(o.evaluate(context)) for o in self.operands)


@dataclass(frozen=True, slots=True)
class _Or:
    operands: tuple[_Expr, ...]

    def evaluate(self, context: Context) -> Value:
        return any(truthy(o.evaluate(context)) for o in self.operands)


_Expr: TypeAlias = _Literal | _Name | _Compare | _Not | _And | _Or


@dataclass(frozen=True, slots=True)
class Condition:
    """A parsed condition. `names` lists the `root.field` names it reads (for lint)."""

    source: str
    names: frozenset[str]
    _tree: _Expr

    def evaluate(self, context: Context) -> bool:
        """True or false for this context; missing names are null, nothing raises."""
        return truthy(self._tree.evaluate(context))

    @property
    def queues(self) -> tuple[str, ...]:
        """The queues whose state this condition reads (`queue.Q.X`), sorted."""
        return tuple(sorted({n.split(".")[1] for n in self.names if n.startswith("queue.")}))

    def equality(self) -> tuple[str, Value] | None:
        """(`root.field`, literal) when the whole condition is `root.field == literal`:
        two such conditions on one name with different literals never hold together
        (the 4x4 count of conditional options, `ivr.lint.shape`)."""
        tree = self._tree
        if isinstance(tree, _Compare) and tree.op == "==":
            for name, literal in ((tree.left, tree.right), (tree.right, tree.left)):
                if isinstance(name, _Name) and isinstance(literal, _Literal):
                    if not isinstance(literal.value, tuple):
                        return f"{name.root}.{name.field}", literal.value
        return None


# --- the parser ---------------------------------------------------------------------

_COMPARISONS: Final = frozenset(
    {"==", "!=", "<", "<=", ">", ">=", "in", "startswith", "endswith", "matches"}
)


class _Parser:
    def __init__(self, source: str) -> None:
        self.tokens = _tokenize(source)
        self.pos = 0
        self.depth = 0
        self.names: set[str] = set()

    @property
    def token(self) -> _Token:
        return self.tokens[self.pos]

    def advance(self) -> _Token:
        token = self.tokens[self.pos]
        if token.kind != "end":
            self.pos += 1
        return token

    def at(self, *texts: str) -> bool:
        return self.token.kind in ("symbol", "keyword") and self.token.text in texts

    def expect(self, text: str, what: str) -> _Token:
        if not self.at(text):
            raise ConditionError(
                f"expected {what}, found {_describe(self.token)}", self.token.offset
            )
        return self.advance()

    def nest(self, offset: int) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise ConditionError(f"nested more than {MAX_NESTING} levels deep", offset)

    def parse(self) -> _Expr:
        if self.token.kind == "end":
            raise ConditionError("empty condition", 0)
        tree = self.or_expr()
        if self.token.kind != "end":
            hint = (
                " (comparisons do not chain: join them with and)"
                if self.at(*_COMPARISONS, "not")
                else ""
            )
            raise ConditionError(f"unexpected {_describe(self.token)}{hint}", self.token.offset)
        return tree

    def or_expr(self) -> _Expr:
        operands = [self.and_expr()]
        while self.at("or"):
            self.advance()
            operands.append(self.and_expr())
        return operands[0] if len(operands) == 1 else _Or(tuple(operands))

    def and_expr(self) -> _Expr:
        operands = [self.not_expr()]
        while self.at("and"):
            self.advance()
            operands.append(self.not_expr())
        return operands[0] if len(operands) == 1 else _And(tuple(operands))

    def not_expr(self) -> _Expr:
        if self.at("not"):
            token = self.advance()
            self.nest(token.offset)
            operand = self.not_expr()
            self.depth -= 1
            return _Not(operand)
        return self.comparison()

    def comparison(self) -> _Expr:
        left = self.operand()
        if self.at("not"):
            token = self.advance()
            if not self.at("in"):
                raise ConditionError(
                    "expected `in` after `not` (as in `x not in [...]`)", token.offset
                )
            self.advance()
            return _Compare("not in", left, self.operand())
        if not self.at(*_COMPARISONS):
            return left
        op = self.advance().text
        right_token = self.token
        right = self.operand()
        if op != "matches":
            return _Compare(op, *_tier_folded(left, right))
        if not (isinstance(right, _Literal) and isinstance(right.value, str)):
            raise ConditionError("matches takes a regular expression in quotes", right_token.offset)
        try:
            pattern = re.compile(right.value)
        except re.error as exc:
            raise ConditionError(f"bad regular expression: {exc}", right_token.offset) from None
        return _Compare(op, left, right, pattern)

    def operand(self) -> _Expr:
        token = self.token
        if token.kind in ("string", "number"):
            self.advance()
            return _Literal(token.value)
        if token.kind == "keyword" and token.text in ("true", "false", "null"):
            self.advance()
            return _Literal({"true": True, "false": False, "null": None}[token.text])
        if token.kind == "word":
            self.advance()
            return self.name(token)
        if self.at("("):
            self.advance()
            self.nest(token.offset)
            inner = self.or_expr()
            self.depth -= 1
            self.expect(")", "`)` to close the `(`")
            return inner
        if self.at("["):
            return self.list_literal()
        raise ConditionError(f"expected a value or a name, found {_describe(token)}", token.offset)

    def list_literal(self) -> _Literal:
        start = self.advance()
        items: list[Scalar] = []
        while not self.at("]"):
            token = self.token
            # Only scalars: a nested list or a name would need recursion for no use.
            scalar = token.kind in ("string", "number") or (
                token.kind == "keyword" and token.text in ("true", "false", "null")
            )
            if not scalar:
                raise ConditionError(
                    "a list holds only strings, numbers, true, false or null", token.offset
                )
            item = self.operand()
            assert isinstance(item, _Literal) and not isinstance(item.value, tuple)
            items.append(item.value)
            if not self.at("]"):
                self.expect(",", "`,` or `]` in the list opened at offset " + str(start.offset))
        self.advance()
        return _Literal(tuple(items))

    def name(self, token: _Token) -> _Name:
        parts = token.text.split(".")
        if parts[0] not in ROOTS:
            raise ConditionError(
                f"unknown name {token.text!r}: names start with vars., customer., caller., "
                "call. or queue.",
                token.offset,
            )
        if parts[0] == "queue":
            if len(parts) != 3 or parts[2] not in QUEUE_FIELDS:
                choices = ", ".join(QUEUE_FIELDS)
                raise ConditionError(
                    f"{token.text!r}: a queue name is queue.QUEUE.FIELD, FIELD one of {choices}",
                    token.offset,
                )
            self.names.add(token.text)
            return _Name("queue", f"{parts[1]}.{parts[2]}")
        if len(parts) != 2:
            raise ConditionError(
                f"{token.text!r}: a name is {parts[0]}.FIELD, one level deep", token.offset
            )
        root, field = parts
        known = {"caller": CALLER_FIELDS, "call": CALL_FIELDS}.get(root)
        if known is not None and field not in known:
            choices = ", ".join(f"{root}.{f}" for f in known)
            raise ConditionError(f"unknown name {token.text!r}: use {choices}", token.offset)
        self.names.add(token.text)
        return _Name(root, field)


def _tier_folded(left: _Expr, right: _Expr) -> tuple[_Expr, _Expr]:
    """The literal compared with `customer.tier`, in lower case (the module docstring)."""
    tier = _Name("customer", "tier")
    if left == tier and isinstance(right, _Literal):
        return left, _Literal(_lower(right.value))
    if right == tier and isinstance(left, _Literal):
        return _Literal(_lower(left.value)), right
    return left, right


def _lower(value: Value) -> Value:
    if isinstance(value, str):
        return value.lower()
    if isinstance(value, tuple):
        return tuple(v.lower() if isinstance(v, str) else v for v in value)
    return value


def _describe(token: _Token) -> str:
    if token.kind == "end":
        return "the end of the condition"
    return f"`{token.text}`"


def parse(source: str) -> Condition:
    """Parse a condition, or raise `ConditionError` with the offset of the problem."""
    if len(source) > MAX_LENGTH:
        raise ConditionError(f"a condition is at most {MAX_LENGTH} characters", MAX_LENGTH)
    parser = _Parser(source)
    tree = parser.parse()
    return Condition(source, frozenset(parser.names), tree)
