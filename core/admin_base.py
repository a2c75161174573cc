"""The back office's base admin classes: django-unfold's theme, typed as Django's own.

Unfold ships no type information; its classes subclass Django's, so mypy checks every admin against Django's API
while the running site gets unfold's templates, widgets and filters.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin, StackedInline, TabularInline
else:
    from unfold.admin import ModelAdmin, StackedInline, TabularInline

__all__ = ["ModelAdmin", "StackedInline", "TabularInline"]
