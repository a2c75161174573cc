"""A function through which the application's role refreshes the settlement lines' statistics.

Matching analyses the lines just loaded before planning its joins (without statistics the planner takes a million
lines for a few thousand). ``ANALYZE`` is the table owner's: run by the application's role, which owns nothing
(core/database_roles.py), PostgreSQL skipped it with only a warning, so that step did nothing wherever the roles are
separate, the test suite included; the benchmark runs as a superuser and never saw it. The function runs as its
owner, the role that ran the migrations, and can do nothing but that. PostgreSQL only.
"""

from typing import Any

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION reconciliation_lines_analyze() RETURNS void AS $$
BEGIN
    ANALYZE reconciliation_settlementline;
END;
$$ LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT;
"""
BACKWARD = "DROP FUNCTION IF EXISTS reconciliation_lines_analyze();"


def forward(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD)


def backward(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD)


class Migration(migrations.Migration):
    dependencies = [
        ("reconciliation", "0008_typed_load_stops_at_the_first_unclean_line"),
    ]

    operations = [migrations.RunPython(forward, backward)]
