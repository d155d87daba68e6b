"""Storage is one boundary: SQL is written in the device's store (edge/store/) and the hub's
(sync/hub/store.py) only. Every string constant of every production module is scanned (f-strings
with their placeholders, docstrings left out)."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).parent.parent.parent
PRODUCTION = ("edge", "tui", "sync", "sim", "madoguchi")
ALLOWED = ("edge/store/", "sync/hub/store.py")
SQL = re.compile("|".join((
    r"\bSELECT\b.*\bFROM\b",
    r"\bINSERT\s+(?:OR\s+\w+\s+)?INTO\b",
    r"\bUPDATE\s+\S+\s+SET\b",
    r"\bDELETE\s+FROM\b",
    r"\bCREATE\s+(?:UNIQUE\s+|TEMP\s+|TEMPORARY\s+)?(?:TABLE|INDEX)\b",
    r"\bALTER\s+TABLE\b",
    r"\bDROP\s+TABLE\b",
    r"\bPRAGMA\b",
    r"^\s*(?:BEGIN|COMMIT|ROLLBACK)\b",
)), re.DOTALL)


def _text(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    return None


def sql_strings(source: str) -> list[tuple[int, str]]:
    """(line, text) of every string constant in `source` that holds SQL."""
    tree = ast.parse(source)
    docstrings = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr) and _text(n.value) is not None}
    inside_fstrings = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
    found = []
    for node in ast.walk(tree):
        text = _text(node)
        if text is not None and id(node) not in docstrings | inside_fstrings and SQL.search(text):
            found.append((node.lineno, text))
    return found


def production_modules():
    for top in PRODUCTION:
        for path in sorted((ROOT / top).rglob("*.py")):
            yield path.relative_to(ROOT).as_posix(), path


def test_sql_is_written_only_in_the_stores():
    modules = list(production_modules())
    assert len(modules) > 50 and any(name.startswith("edge/store/") for name, _ in modules)
    offenders = [f"{name}:{line}: {text[:60]!r}" for name, path in modules
                 if not name.startswith(ALLOWED) for line, text in sql_strings(path.read_text(encoding="utf-8"))]
    assert offenders == [], "SQL outside edge/store/ and sync/hub/store.py:\n" + "\n".join(offenders)
    assert sql_strings((ROOT / "sync/hub/store.py").read_text(encoding="utf-8")), "the scanner sees the hub's store"


def test_the_scanner_flags_sql_and_leaves_prose_alone():
    sample = '''
"""A module docstring may say SELECT ... FROM, PRAGMA or BEGIN."""
import x
COUNT = "SELECT count(*) FROM audit"
def f(conn, table, cols):
    """Docstrings are documentation: UPDATE t SET a = 1."""
    conn.execute(f"SELECT {', '.join(cols)} "
                 f"FROM {table} WHERE id = ?")
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)")
    conn.execute(f"UPDATE {table} SET a = ?")
    conn.execute("DELETE FROM followup")
    conn.execute("CREATE UNIQUE INDEX i ON t (a)")
    conn.execute("ALTER TABLE t ADD COLUMN b")
    conn.execute("DROP TABLE t")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("ROLLBACK")
    log.info("SELECT of the JPKI AP answered %s", sw)
    raise ValueError("update the settings, then select a reader from the list")
'''
    lines = [line for line, _ in sql_strings(sample)]
    assert set(lines) == {4, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17}
