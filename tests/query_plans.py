"""What a service call sends to PostgreSQL, and how PostgreSQL plans it: for the tests that
assert an index walk, no Seq Scan and no Sort."""

from sqlalchemy import event

from portal.extensions import db


def captured_select(action) -> tuple[str, object]:
    """The one SELECT a service call ran (an audit INSERT aside), with its parameters."""
    statements = []

    def note(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        action()
    finally:
        event.remove(db.engine, "before_cursor_execute", note)
    selects = [entry for entry in statements if entry[0].lstrip().upper().startswith("SELECT")]
    assert len(selects) == 1, selects
    return selects[0]


def plan_nodes(statement: str, parameters, analyze: bool = False) -> list[dict]:
    """Every node of EXPLAIN (FORMAT JSON) of a captured statement, flattened."""
    options = "ANALYZE, BUFFERS, FORMAT JSON" if analyze else "FORMAT JSON"
    with db.engine.connect() as conn:
        tree = conn.exec_driver_sql(f"EXPLAIN ({options}) {statement}", parameters).scalar()
    nodes, stack = [], [tree[0]["Plan"]]
    while stack:
        node = stack.pop()
        nodes.append(node)
        stack.extend(node.get("Plans", []))
    return nodes
