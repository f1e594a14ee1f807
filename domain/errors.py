"""Rule violations the outer layers turn into clear client errors.

`code` is stable and machine-readable (it becomes the API's `error`), `field` names the input at fault.
"""

from __future__ import annotations


class DomainError(Exception):
    """A request the business rules refuse. Nothing may be written when one is raised."""

    code = "invalid"

    def __init__(self, detail: str, *, field: str | None = None, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        if code is not None:
            self.code = code


class SoldOut(DomainError):
    """Not enough available units of a SKU to take an order line (maps to 409 sold_out)."""

    code = "sold_out"

    def __init__(self, sku: str, *, field: str | None = None, requested: int = 0, available: int = 0) -> None:
        super().__init__(f"SKU {sku} has {available} available, {requested} requested", field=field)
        self.sku = sku
        self.requested = requested
        self.available = available


class Conflict(DomainError):
    """The state of things forbids this change now (maps to 409 conflict)."""

    code = "conflict"


class Forbidden(DomainError):
    """The one asking may not change this (maps to 403 forbidden): e.g. a leader verifying another's order."""

    code = "forbidden"


class StillHeld(DomainError):
    """A held order's fix that screening still refuses; `flags` are the screening flags, in order."""

    code = "still_held"

    def __init__(self, flags: list[str], *, field: str | None = None) -> None:
        super().__init__(f"still cannot deliver: {', '.join(flags)}", field=field)
        self.flags = tuple(flags)
