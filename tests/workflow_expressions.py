"""GitHub Actions expressions (`${{ ... }}`), evaluated as the runner evaluates
them, so tests can follow a workflow's values (a job's outputs into a matrix,
an artifact's name into a download pattern) for a given event.

What the workflows here use: literals, contexts with `.` and `[...]`, the
operators `! < <= > >= == != && ||` with GitHub's precedence, loose equality
(strings compared without case, other types as numbers), `&&` and `||`
giving an operand, and the functions format, fromJSON, toJSON, contains,
startsWith, endsWith, join and the status checks. An unknown function or a
syntax error raises ValueError, so a new form gets covered, not guessed."""

import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<number>-?(?:0x[0-9a-fA-F]+|[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?))"
    r"|(?P<op>==|!=|<=|>=|&&|\|\||[!<>().,\[\]])|(?P<name>[A-Za-z_][A-Za-z0-9_-]*|\*))"
)
EXPRESSION = re.compile(r"\$\{\{((?:(?!\}\}).)*)\}\}", re.DOTALL)
STATUS = ("success", "always", "cancelled", "failure")


def tokenize(text: str) -> list[tuple[str, str]]:
    tokens, at = [], 0
    while at < len(text):
        if not text[at:].strip():
            break
        match = TOKEN.match(text, at)
        if not match or match.end() == at:
            raise ValueError(f"cannot read the expression at {text[at:]!r}")
        kind = match.lastgroup
        tokens.append((kind, match.group(kind)))
        at = match.end()
    return tokens


def to_number(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return 0.0
        try:
            return float(int(text, 16)) if text.lower().startswith("0x") else float(text)
        except ValueError:
            return math.nan
    return math.nan


def to_string(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    if isinstance(value, str):
        return value
    return "Array" if isinstance(value, list) else "Object"


def truthy(value: Any) -> bool:
    if value is None or value is False or value == "":
        return False
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value != 0 and not math.isnan(value)
    return True


def equal(a: Any, b: Any) -> bool:
    if type(a) is type(b) or (isinstance(a, int | float) and isinstance(b, int | float)):
        if isinstance(a, str):
            return a.lower() == b.lower()
        return a == b
    if isinstance(a, list | dict) or isinstance(b, list | dict):
        return False
    return to_number(a) == to_number(b)


def format_(template: str, *args: Any) -> str:
    def one(match: re.Match) -> str:
        if match[0] in ("{{", "}}"):
            return match[0][0]
        return to_string(args[int(match[1])])

    return re.sub(r"\{\{|\}\}|\{(\d+)\}", one, to_string(template))


class Parser:
    def __init__(self, text: str, context: Mapping[str, Any], status: Mapping[str, bool]):
        self.tokens = tokenize(text)
        self.at = 0
        self.context = context
        self.status = status

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self, op: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (op is not None and token != ("op", op)):
            raise ValueError(f"expected {op or 'more'} at token {self.at}, got {token}")
        self.at += 1
        return token

    def parse(self) -> Any:
        value = self.or_()
        if self.peek() is not None:
            raise ValueError(f"unexpected {self.peek()} at token {self.at}")
        return value

    def or_(self) -> Any:
        value = self.and_()
        while self.peek() == ("op", "||"):
            self.take()
            right = self.and_()
            value = value if truthy(value) else right
        return value

    def and_(self) -> Any:
        value = self.equality()
        while self.peek() == ("op", "&&"):
            self.take()
            right = self.equality()
            value = right if truthy(value) else value
        return value

    def equality(self) -> Any:
        value = self.comparison()
        while self.peek() in (("op", "=="), ("op", "!=")):
            op = self.take()[1]
            right = self.comparison()
            value = equal(value, right) == (op == "==")
        return value

    def comparison(self) -> Any:
        value = self.unary()
        while self.peek() in (("op", "<"), ("op", "<="), ("op", ">"), ("op", ">=")):
            op = self.take()[1]
            a, b = value, self.unary()
            if isinstance(a, str) and isinstance(b, str):
                a, b = a.lower(), b.lower()
            else:
                a, b = to_number(a), to_number(b)
            value = {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
        return value

    def unary(self) -> Any:
        if self.peek() == ("op", "!"):
            self.take()
            return not truthy(self.unary())
        return self.postfix(self.primary())

    def postfix(self, value: Any) -> Any:
        while self.peek() in (("op", "."), ("op", "[")):
            if self.take()[1] == ".":
                kind, name = self.take()
                if kind != "name":
                    raise ValueError(f"expected a property name, got {name!r}")
                value = prop(value, name)
            else:
                key = self.or_()
                self.take("]")
                value = prop(value, key)
        return value

    def primary(self) -> Any:
        kind, text = self.take()
        if kind == "string":
            return text[1:-1].replace("''", "'")
        if kind == "number":
            number = to_number(text)
            return int(number) if number.is_integer() else number
        if (kind, text) == ("op", "("):
            value = self.or_()
            self.take(")")
            return value
        if kind != "name":
            raise ValueError(f"unexpected {text!r}")
        if text in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[text]
        if self.peek() == ("op", "("):
            self.take()
            args = []
            while self.peek() != ("op", ")"):
                args.append(self.or_())
                if self.peek() == ("op", ","):
                    self.take()
            self.take(")")
            return self.call(text, args)
        return self.context.get(text)

    def call(self, name: str, args: list) -> Any:
        functions: dict[str, Callable[..., Any]] = {
            "format": format_,
            "fromjson": lambda text: json.loads(to_string(text)),
            "tojson": lambda value: json.dumps(value, indent=2),
            "contains": lambda hay, needle: (
                any(equal(item, needle) for item in hay)
                if isinstance(hay, list)
                else to_string(needle).lower() in to_string(hay).lower()
            ),
            "startswith": lambda a, b: to_string(a).lower().startswith(to_string(b).lower()),
            "endswith": lambda a, b: to_string(a).lower().endswith(to_string(b).lower()),
            "join": lambda items, sep=",": to_string(sep).join(to_string(i) for i in items),
            "always": lambda: True,
            "cancelled": lambda: bool(self.status.get("cancelled")),
            "failure": lambda: bool(self.status.get("failure")) and not self.status.get("cancelled"),
            "success": lambda: not self.status.get("failure") and not self.status.get("cancelled"),
        }
        if name.lower() not in functions:
            raise ValueError(f"a function the evaluator does not know: {name}")
        return functions[name.lower()](*args)


def prop(value: Any, key: Any) -> Any:
    if isinstance(value, Mapping):
        wanted = to_string(key).lower()
        return next((v for k, v in value.items() if k.lower() == wanted), None)
    if isinstance(value, list) and isinstance(key, int | float) and 0 <= key < len(value):
        return value[int(key)]
    return None


def evaluate(expression: str, context: Mapping[str, Any], status: Mapping[str, bool] | None = None) -> Any:
    """One expression, without `${{ }}`."""
    return Parser(expression, context, status or {}).parse()


def value(text: Any, context: Mapping[str, Any], status: Mapping[str, bool] | None = None) -> Any:
    """A workflow value: a string that is one `${{ }}` gives the expression's
    value itself (a matrix's list); other strings have each expression
    replaced by its text; anything else is returned as it is."""
    if not isinstance(text, str):
        return text
    whole = EXPRESSION.fullmatch(text.strip())
    if whole:
        return evaluate(whole[1], context, status)
    return EXPRESSION.sub(lambda m: to_string(evaluate(m[1], context, status)), text)


def condition(text: Any, context: Mapping[str, Any], status: Mapping[str, bool] | None = None) -> bool:
    """An `if:` as the runner reads it: with or without `${{ }}`, and
    `success() && (...)` unless it calls a status check itself; no `if`, success()."""
    if text is None:
        text = "success()"
    if isinstance(text, bool):
        return text
    whole = EXPRESSION.fullmatch(text.strip())
    expression = whole[1] if whole else text
    if not any(name in STATUS for _, name in tokenize(expression)):
        expression = f"success() && ({expression})"
    return truthy(evaluate(expression, context, status))
