"""`SplitCrm`: customers and cases from one adapter, interactions kept by another.

With an external CRM (`crm.adapter: rest`) the customer data is the CRM's, read over
REST; the interactions callpop records are committed to its own database first and
reach the CRM through the outbox, so a CRM outage never loses a disposition.
"""

from __future__ import annotations

from crm_adapter.port import (
    Case,
    Customer,
    CustomerDirectory,
    CustomerDraft,
    Interaction,
    InteractionLog,
    InteractionUpdate,
)

__all__ = ["SplitCrm"]


class SplitCrm:
    def __init__(self, customers: CustomerDirectory, interactions: InteractionLog) -> None:
        self.customers = customers
        self.interactions = interactions

    async def find_by_phone(self, phone: str) -> list[Customer]:
        return await self.customers.find_by_phone(phone)

    async def find_by_account(self, account: str) -> list[Customer]:
        return await self.customers.find_by_account(account)

    async def get_customer(self, customer_id: str) -> Customer:
        return await self.customers.get_customer(customer_id)

    async def create_customer(self, draft: CustomerDraft) -> Customer:
        return await self.customers.create_customer(draft)

    async def open_cases(self, customer_id: str) -> list[Case]:
        return await self.customers.open_cases(customer_id)

    async def recent_interactions(self, customer_id: str, limit: int = 5) -> list[Interaction]:
        return await self.interactions.recent_interactions(customer_id, limit)

    async def get_interaction(self, call_id: str) -> Interaction:
        return await self.interactions.get_interaction(call_id)

    async def log_interaction(self, interaction: Interaction) -> None:
        await self.interactions.log_interaction(interaction)

    async def update_interaction(self, call_id: str, update: InteractionUpdate) -> Interaction:
        return await self.interactions.update_interaction(call_id, update)

    async def aclose(self) -> None:
        try:
            await self.customers.aclose()
        finally:
            await self.interactions.aclose()
