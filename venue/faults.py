"""Fault injection: what a test can make the exchange do wrong, on purpose.

The server consults this before serving a request; the core consults `reject_orders`.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class RequestFault:
    """The next `count` requests to `path` ("/info", "/exchange" or "*") get this treatment."""

    path: str
    count: int
    status: int = 0  # HTTP status to answer with (500, 502, 429, ...); 0 = no status fault
    delay_ms: int = 0  # hold the request this long first (a client with a shorter timeout times out)
    body: str = ""


@dataclass(slots=True)
class Faults:
    requests: list[RequestFault] = field(default_factory=list)
    reject_orders: int = 0  # the next N orders are refused
    reject_text: str = ""

    def next_request_fault(self, path: str) -> RequestFault | None:
        for fault in self.requests:
            if fault.count > 0 and fault.path in (path, "*"):
                fault.count -= 1
                if fault.count == 0:
                    self.requests.remove(fault)
                return fault
        return None

    def take_order_rejection(self) -> str | None:
        """The refusal text for the next order if one is due ("" = the default text), else None."""
        if self.reject_orders <= 0:
            return None
        self.reject_orders -= 1
        return self.reject_text

    def clear(self) -> None:
        self.requests.clear()
        self.reject_orders = 0
        self.reject_text = ""
