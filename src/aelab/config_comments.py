"""What each config key means, read from the comments config.py keeps beside it (comments are not
in the syntax tree, so `tokenize` reads them): the comment at the end of the key's line(s), else
the block of comment lines directly above it. The config reference page (docs/scripts/reference.py)
and the estimators' numpydoc "Parameters" sections (aelab/estimator_params.py) both read them here,
so a key's meaning is written once, beside the key.
"""

from __future__ import annotations

import ast
import functools
import io
import tokenize
from pathlib import Path

from aelab import config


@functools.lru_cache(maxsize=None)
def field_comments(source: Path) -> dict[tuple[str, str], str]:
    """(class, field) -> the comment at the end of the field's line(s), else the block of # lines
    directly above it (no blank line between); {} when the source is not on disk."""
    try:
        text = Path(source).read_text(encoding="utf-8")
    except OSError:
        return {}
    comments: dict[int, str] = {}
    code_lines: set[int] = set()
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type == tokenize.COMMENT:
            comments[tok.start[0]] = tok.string.lstrip("#").strip()
        elif tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER):
            code_lines.add(tok.start[0])
    found: dict[tuple[str, str], str] = {}
    for node in ast.walk(ast.parse(text)):
        if not isinstance(node, ast.ClassDef):
            continue
        for stmt in node.body:
            if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
                continue
            above: list[str] = []
            line = stmt.lineno - 1
            while line in comments and line not in code_lines:
                above.insert(0, comments[line])
                line -= 1
            after = [comments[n] for n in range(stmt.lineno, stmt.end_lineno + 1) if n in comments and n in code_lines]
            after = [c for c in after if not c.startswith("type: ignore")]
            # A block above a key that also has its own comment heads a group of keys: the key's own wins.
            found[(node.name, stmt.target.id)] = " ".join(after or above)
    return found


def meaning(section: type, name: str) -> str:
    """A key's meaning: its Field(description=...) if it has one, else its comment in config.py."""
    field = section.model_fields[name]
    return field.description or field_comments(Path(config.__file__)).get((section.__name__, name), "")
