"""A function the typed settlement load calls on the first line its cheap checks do not pass, so the load stops there
instead of converting and writing the rest of a file it will roll back (about 10 s at a million lines) before the
described load says why. It raises a data exception, which the load takes as "not clean". PostgreSQL only: the
typed load is PostgreSQL's.
"""

from typing import Any

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION reconciliation_not_clean(line bigint) RETURNS boolean AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'data_exception',
        MESSAGE = 'settlement line ' || line || ' is not clean for the typed load';
END;
$$ LANGUAGE plpgsql VOLATILE;
"""
BACKWARD = "DROP FUNCTION IF EXISTS reconciliation_not_clean(bigint);"


def forward(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD)


def backward(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD)


class Migration(migrations.Migration):
    dependencies = [
        ("reconciliation", "0007_line_file_checked_per_statement"),
    ]

    operations = [migrations.RunPython(forward, backward)]
