"""Ledgerline's merchant-side helpers: plain Python with no Django, safe to import (or copy) anywhere."""
