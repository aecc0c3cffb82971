"""The experiment file's ``rule``: a small expression over arm names (each standing for the
arm's mean test accuracy) and ``ARM.PATH`` references (the arm's mean of a ``metrics``
path of its test report), evaluated without ``eval``.

  rule = "pooling >= 0.92 * attention and pooling <= attention + 0.01"
  rule = "plain.temperature_scaling.ece < plain.ece"
"""

from __future__ import annotations

import ast
import keyword
import operator
import re
from collections.abc import Mapping

from mixer_vit.errors import UserError

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv}
_COMPARE = {ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt,
            ast.GtE: operator.ge, ast.Eq: operator.eq, ast.NotEq: operator.ne}


# A report path may hold a Python keyword (``open_set.global.f1``): it is parsed as
# ``global_`` and read back without the underscore.
_KEYWORD_PART = re.compile(r"\.(" + "|".join(keyword.kwlist) + r")\b")


def _parse(rule: str) -> ast.Expression:
    try:
        tree = ast.parse(_KEYWORD_PART.sub(r".\1_", rule), mode="eval")
    except SyntaxError:
        raise UserError(f"rule {rule!r} is not an expression; e.g. 'pooling >= 0.92 * attention'")
    allowed = (ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub,
               ast.BinOp, ast.Compare, ast.Name, ast.Attribute, ast.Load, ast.Constant,
               *_BINARY, *_COMPARE)
    for node in ast.walk(tree):
        if not isinstance(node, allowed) or (
            isinstance(node, ast.Constant) and not isinstance(node.value, (int, float))
        ):
            raise UserError(
                f"rule {rule!r} uses {type(node).__name__}; only arm names, ARM.METRIC, "
                f"numbers, + - * /, comparisons and and/or/not are allowed"
            )
    _references(tree)  # every Attribute chain must end in an arm name
    return tree


def _reference(node: ast.expr) -> tuple[str, str] | None:
    """(arm, dotted metric path or "") of a Name or an Attribute chain on a Name."""
    parts = []
    while isinstance(node, ast.Attribute):
        attr = node.attr
        parts.append(attr[:-1] if attr.endswith("_") and keyword.iskeyword(attr[:-1]) else attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return node.id, ".".join(reversed(parts))


def _references(tree: ast.Expression) -> set[tuple[str, str]]:
    """Every maximal arm reference of the expression (an Attribute chain counts once)."""
    found: set[tuple[str, str]] = set()

    def walk(node):
        if isinstance(node, (ast.Name, ast.Attribute)):
            reference = _reference(node)
            if reference is None:
                raise UserError(f"rule: {ast.unparse(node)!r} is not ARM or ARM.METRIC")
            found.add(reference)
            return
        for child in ast.iter_child_nodes(node):
            walk(child)

    walk(tree)
    return found


def rule_references(rule: str) -> list[tuple[str, str]]:
    """The (arm, metric path) pairs a rule mentions; path "" is the mean test accuracy."""
    return sorted(_references(_parse(rule)))


def rule_names(rule: str) -> list[str]:
    """The arm names a rule mentions."""
    return sorted({arm for arm, _ in rule_references(rule)})


def value_key(arm: str, path: str) -> str:
    """The key of an arm reference in ``evaluate_rule``'s ``means``: ARM or ARM.PATH."""
    return f"{arm}.{path}" if path else arm


def evaluate_rule(rule: str, means: Mapping[str, float]) -> bool:
    """True when the claim held: ``rule`` with each arm name replaced by ``means[arm]`` and
    each ``ARM.PATH`` by ``means["ARM.PATH"]``."""

    def value(node):
        if isinstance(node, ast.Expression):
            return value(node.body)
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, (ast.Name, ast.Attribute)):
            return means[value_key(*_reference(node))]
        if isinstance(node, ast.UnaryOp):
            operand = value(node.operand)
            return (not operand) if isinstance(node.op, ast.Not) else -operand
        if isinstance(node, ast.BinOp):
            return _BINARY[type(node.op)](value(node.left), value(node.right))
        if isinstance(node, ast.BoolOp):
            results = [value(v) for v in node.values]
            return all(results) if isinstance(node.op, ast.And) else any(results)
        left = value(node.left)  # ast.Compare: a < b <= c chains
        for op, right_node in zip(node.ops, node.comparators):
            right = value(right_node)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True

    return bool(value(_parse(rule)))


def verdict_line(rule: str, means: Mapping[str, float]) -> str:
    """"held", "did not hold", or "not decided" (no rule, or an arm without results)."""
    if not rule:
        return "not decided (the experiment states no rule)"
    missing = [
        value_key(arm, path) for arm, path in rule_references(rule)
        if value_key(arm, path) not in means
    ]
    if missing:
        return f"not decided (no finished runs of {', '.join(missing)})"
    held = evaluate_rule(rule, means)
    return f"{'held' if held else 'did not hold'} (rule: {rule})"
