from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "ledger"
    # The application's database role may only read and append to these (core.database_roles).
    append_only_tables = (
        "ledger_journaltransaction",
        "ledger_journalentry",
        "ledger_journalseal",
        "ledger_journalcheckpoint",
    )
    # Locked (SELECT … FOR UPDATE), renamed at most: an account's identity never changes.
    locked_tables = (("ledger_account", "name"),)

    def ready(self) -> None:
        from ledger.metrics import metrics_connect

        metrics_connect()
