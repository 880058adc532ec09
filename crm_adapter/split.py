"""`SplitCrm`: customers and cases from one adapter, interactions kept by another.

With an external CRM (`crm.adapter: rest`) the customer data is the CRM's, read over
REST; the interactions callpop records are committed to its own database first and
reach the CRM through the outbox, so a CRM outage never loses a disposition.
"""

from __future__ import annotations

from crm_adapter.port import CustomerDirectory, InteractionLog

__all__ = ["SplitCrm"]


class SplitCrm:
    def __init__(self, customers: CustomerDirectory, interactions: InteractionLog) -> None:
        self.customers = customers
        self.interactions = interactions
        # The halves' own methods, not wrappers that await them: a lookup goes through
        # here twice per call, and a coroutine frame per layer is a cost on every read.
        self.find_by_phone = customers.find_by_phone
        self.find_by_account = customers.find_by_account
        self.get_customer = customers.get_customer
        self.create_customer = customers.create_customer
        self.open_cases = customers.open_cases
        self.verify_pin = customers.verify_pin
        self.recent_interactions = interactions.recent_interactions
        self.get_interaction = interactions.get_interaction
        self.log_interaction = interactions.log_interaction
        self.update_interaction = interactions.update_interaction

    async def aclose(self) -> None:
        try:
            await self.customers.aclose()
        finally:
            await self.interactions.aclose()
