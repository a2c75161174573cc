"""A settlement line's file: checked once per statement instead of once per row (see SettlementLine's docstring).

The constraint is dropped only after the triggers that replace it exist, so no moment is left unchecked. PostgreSQL
checks the statement's new rows (a transition table) in one query and locks the files they name ``FOR KEY SHARE``,
as the constraint's own check does, so a concurrent delete of the file waits and then finds the lines. A file with
lines cannot be deleted or renumbered. SQLite (the embedded shape) gets the same rules as row triggers.
"""

from typing import Any

from django.db import migrations, models
import django.db.models.deletion

POSTGRESQL_FORWARD = """
CREATE OR REPLACE FUNCTION reconciliation_line_file_exists() RETURNS trigger AS $$
DECLARE
    named bigint[];
    found integer;
BEGIN
    SELECT array_agg(file_id) INTO named FROM (SELECT DISTINCT file_id FROM new_lines) AS d;
    IF named IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT count(*) INTO found FROM (
        SELECT 1 FROM reconciliation_settlementfile WHERE id = ANY (named) FOR KEY SHARE
    ) AS locked;
    IF found <> cardinality(named) THEN
        RAISE EXCEPTION 'a settlement line names a settlement file that does not exist'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER reconciliation_line_file_insert
    AFTER INSERT ON reconciliation_settlementline REFERENCING NEW TABLE AS new_lines
    FOR EACH STATEMENT EXECUTE FUNCTION reconciliation_line_file_exists();
CREATE TRIGGER reconciliation_line_file_update
    AFTER UPDATE ON reconciliation_settlementline REFERENCING NEW TABLE AS new_lines
    FOR EACH STATEMENT EXECUTE FUNCTION reconciliation_line_file_exists();

CREATE OR REPLACE FUNCTION reconciliation_file_keeps_its_lines() RETURNS trigger AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM reconciliation_settlementline WHERE file_id = OLD.id) THEN
        RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
            MESSAGE = 'settlement file ' || OLD.id || ' has lines: it cannot be deleted or renumbered';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER reconciliation_file_keeps_its_lines
    BEFORE DELETE OR UPDATE OF id ON reconciliation_settlementfile
    FOR EACH ROW EXECUTE FUNCTION reconciliation_file_keeps_its_lines();
"""
POSTGRESQL_BACKWARD = """
DROP TRIGGER IF EXISTS reconciliation_line_file_insert ON reconciliation_settlementline;
DROP TRIGGER IF EXISTS reconciliation_line_file_update ON reconciliation_settlementline;
DROP FUNCTION IF EXISTS reconciliation_line_file_exists();
DROP TRIGGER IF EXISTS reconciliation_file_keeps_its_lines ON reconciliation_settlementfile;
DROP FUNCTION IF EXISTS reconciliation_file_keeps_its_lines();
"""
SQLITE_FORWARD = [
    """
    CREATE TRIGGER reconciliation_line_file_insert BEFORE INSERT ON reconciliation_settlementline
    WHEN NOT EXISTS (SELECT 1 FROM reconciliation_settlementfile WHERE id = NEW.file_id)
    BEGIN SELECT RAISE(ABORT, 'a settlement line names a settlement file that does not exist'); END
    """,
    """
    CREATE TRIGGER reconciliation_line_file_update BEFORE UPDATE OF file_id ON reconciliation_settlementline
    WHEN NOT EXISTS (SELECT 1 FROM reconciliation_settlementfile WHERE id = NEW.file_id)
    BEGIN SELECT RAISE(ABORT, 'a settlement line names a settlement file that does not exist'); END
    """,
    """
    CREATE TRIGGER reconciliation_file_keeps_its_lines_delete BEFORE DELETE ON reconciliation_settlementfile
    WHEN EXISTS (SELECT 1 FROM reconciliation_settlementline WHERE file_id = OLD.id)
    BEGIN SELECT RAISE(ABORT, 'a settlement file with lines cannot be deleted'); END
    """,
    """
    CREATE TRIGGER reconciliation_file_keeps_its_lines_update BEFORE UPDATE OF id ON reconciliation_settlementfile
    WHEN EXISTS (SELECT 1 FROM reconciliation_settlementline WHERE file_id = OLD.id)
    BEGIN SELECT RAISE(ABORT, 'a settlement file with lines cannot be renumbered'); END
    """,
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS reconciliation_line_file_insert",
    "DROP TRIGGER IF EXISTS reconciliation_line_file_update",
    "DROP TRIGGER IF EXISTS reconciliation_file_keeps_its_lines_delete",
    "DROP TRIGGER IF EXISTS reconciliation_file_keeps_its_lines_update",
]


def postgresql_forward(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_FORWARD)


def postgresql_backward(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_BACKWARD)


def sqlite_forward(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE_FORWARD:
            schema_editor.execute(statement)


def sqlite_backward(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE_BACKWARD:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("reconciliation", "0006_line_index_for_the_earlier_file_probe"),
    ]

    operations = [
        # Added first, so no moment is left without an index for the probe.
        migrations.AddIndex(
            model_name="settlementline",
            index=models.Index(
                fields=["connector", "provider_reference", "type", "file", "line_number"], name="settlement_line_key"
            ),
        ),
        migrations.RemoveIndex(
            model_name="settlementline",
            name="settlement_line_earlier",
        ),
        migrations.RunPython(postgresql_forward, postgresql_backward),
        migrations.AlterField(
            model_name="settlementline",
            name="file",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="lines",
                to="reconciliation.settlementfile",
            ),
        ),
        # After the field change: SQLite makes the table anew for it, and its triggers would go with the old one.
        migrations.RunPython(sqlite_forward, sqlite_backward),
    ]
