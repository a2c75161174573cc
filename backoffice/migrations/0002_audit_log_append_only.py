"""The audit log refuses UPDATE and DELETE in the database too (PostgreSQL), whoever connects."""

from typing import Any

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION backoffice_audit_log_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit log entries are never updated or deleted';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER backoffice_audit_log_no_update_delete
    BEFORE UPDATE OR DELETE ON backoffice_auditlogentry
    FOR EACH ROW EXECUTE FUNCTION backoffice_audit_log_immutable();
CREATE TRIGGER backoffice_audit_log_no_truncate
    BEFORE TRUNCATE ON backoffice_auditlogentry
    FOR EACH STATEMENT EXECUTE FUNCTION backoffice_audit_log_immutable();
"""
BACKWARD = """
DROP TRIGGER IF EXISTS backoffice_audit_log_no_update_delete ON backoffice_auditlogentry;
DROP TRIGGER IF EXISTS backoffice_audit_log_no_truncate ON backoffice_auditlogentry;
DROP FUNCTION IF EXISTS backoffice_audit_log_immutable();
"""


def forward(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD)


def backward(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("backoffice", "0001_initial")]
    operations = [migrations.RunPython(forward, backward)]
