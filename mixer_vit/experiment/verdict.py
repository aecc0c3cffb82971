"""The experiment file's ``rule``: a small expression over arm names (each standing for the
arm's mean test accuracy), evaluated without ``eval``.

  rule = "pooling >= 0.92 * attention and pooling <= attention + 0.01"
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Mapping

from mixer_vit.errors import UserError

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv}
_COMPARE = {ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt,
            ast.GtE: operator.ge, ast.Eq: operator.eq, ast.NotEq: operator.ne}


def _parse(rule: str) -> ast.Expression:
    try:
        tree = ast.parse(rule, mode="eval")
    except SyntaxError:
        raise UserError(f"rule {rule!r} is not an expression; e.g. 'pooling >= 0.92 * attention'")
    allowed = (ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub,
               ast.BinOp, ast.Compare, ast.Name, ast.Load, ast.Constant,
               *_BINARY, *_COMPARE)
    for node in ast.walk(tree):
        if not isinstance(node, allowed) or (
            isinstance(node, ast.Constant) and not isinstance(node.value, (int, float))
        ):
            raise UserError(
                f"rule {rule!r} uses {type(node).__name__}; only arm names, numbers, + - * /, "
                f"comparisons and and/or/not are allowed"
            )
    return tree


def rule_names(rule: str) -> list[str]:
    """The arm names a rule mentions."""
    return sorted({n.id for n in ast.walk(_parse(rule)) if isinstance(n, ast.Name)})


def evaluate_rule(rule: str, means: Mapping[str, float]) -> bool:
    """True when the claim held: ``rule`` with each arm name replaced by ``means[arm]``."""

    def value(node):
        if isinstance(node, ast.Expression):
            return value(node.body)
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return means[node.id]
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
    missing = [name for name in rule_names(rule) if name not in means]
    if missing:
        return f"not decided (no finished runs of {', '.join(missing)})"
    held = evaluate_rule(rule, means)
    return f"{'held' if held else 'did not hold'} (rule: {rule})"
