"""`aelab arithmetic "A - B + C"`: latent arithmetic (seed 003: the latent space is a vector space).

Operands are test images ("#12", or "12" when 12 is not a label) or labels ("6", "a",
"label:6", quoted when they hold spaces: "'x y'"), which stand for the mean code of that label.
A term may carry a factor: "0.5*#3", "2 * a".
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from aelab import limits
from aelab.errors import AelabError
from aelab.explore import refs
from aelab.explore.context import Context, as_context
from aelab.explore.generate import nearest
from aelab.layout import ARITHMETIC, slug
from aelab.plots.explore_figures import equation

_TOKEN = re.compile(r"""\s*(?:(?P<op>[+*-])|(?P<quoted>'[^']*'|"[^"]*")|(?P<word>[^\s+*'"-]+))""")


def _tokens(expression: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    while expression[pos:].strip():
        m = _TOKEN.match(expression, pos)
        if m is None:
            raise AelabError(f"cannot read {expression!r} at position {pos}: unbalanced quote?")
        kind = m.lastgroup
        tokens.append((kind, m.group(kind).strip("'\"") if kind == "quoted" else m.group(kind)))
        pos = m.end()
    return tokens


def parse(ctx: Context, expression: str) -> list[tuple[float, refs.Ref]]:
    """'A - B + C' -> [(+1, A), (-1, B), (+1, C)]; a bad expression raises AelabError."""
    limits.check("expression_characters", len(expression), "the expression's length")
    tokens = _tokens(expression)
    if not tokens:
        raise AelabError('empty expression; write e.g. "#3 - 6 + 0" (test images, labels, + and -)')

    def fail(why: str):
        raise AelabError(f"cannot read {expression!r}: {why}; write terms such as '#12', '6', "
                         "'0.5*a' joined by + or -")

    terms, i = [], 0
    while i < len(tokens):
        sign = 1.0
        if tokens[i][0] == "op":
            if tokens[i][1] == "*":
                fail("'*' must follow a number")
            sign = -1.0 if tokens[i][1] == "-" else 1.0
            i += 1
        elif terms:
            fail(f"expected + or - before '{tokens[i][1]}'")
        factor = 1.0
        if i + 1 < len(tokens) and tokens[i + 1] == ("op", "*"):
            try:
                factor = float(tokens[i][1])
            except ValueError:
                fail(f"'{tokens[i][1]}' before '*' is not a number")
            if not math.isfinite(factor):
                fail(f"'{tokens[i][1]}' before '*' is not a finite number")
            i += 2
        if i >= len(tokens) or tokens[i][0] == "op":
            fail("a term is missing")
        terms.append((sign * factor, refs.parse_ref(ctx, tokens[i][1])))
        i += 1
    return terms


def evaluate(ctx: Context, expression: str) -> tuple[np.ndarray, list[tuple[float, refs.Ref]]]:
    """(the resulting code, the parsed terms)."""
    terms = parse(ctx, expression)
    z = sum(coef * refs.code(ctx, ref) for coef, ref in terms)
    return np.asarray(z, np.float32), terms


def arithmetic(ctx: Context, expression: str, out: str | Path | None = None) -> tuple[np.ndarray, Path]:
    """Decode the result of the expression; the figure shows every operand, the result and the
    test image closest to it, in arithmetic_<the expression>.png by default. Returns (the decoded result (C, H, W), the figure's path)."""
    ctx = as_context(ctx)
    z, terms = evaluate(ctx, expression)
    result = ctx.decode(z[None])[0]
    panels, titles = [], []
    for k, (coef, ref) in enumerate(terms):
        if ref.index is not None:
            panels.append(ctx.test_images(ref.index)[0])
            what = refs.describe(ctx, ref.index)
        else:
            panels.append(ctx.decode(refs.code(ctx, ref)[None])[0])
            what = f"mean of '{ref.label}'"
        sign = ("-" if coef < 0 else "+") if k else ("-" if coef < 0 else "")
        factor = f"{abs(coef):g} × " if abs(coef) != 1 else ""
        titles.append(f"{sign} {factor}{what}".strip())
    index, _ = nearest(result[None], ctx.test.images)
    closest = int(index[0])
    title = f"{ctx.kind} latent arithmetic: {expression.strip()}"
    path = equation(panels, titles, result, ctx.test_images(closest)[0],
                    f"nearest test image: {refs.describe(ctx, closest)}", title,
                    ctx.out_path(out, ARITHMETIC.format(expression=slug(expression))))
    return result, path
