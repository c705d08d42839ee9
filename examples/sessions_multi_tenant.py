"""Sessions and multi-tenancy: tag every LLM call with user, session, tenant and retention class.

`peekr.session(...)` works as `with` and `async with`, nests (inner values win) and follows
asyncio tasks, so concurrent requests of different tenants never mix. Runs offline; writes
traces.db to the current directory and prints a per-tenant summary with plain SQL.
"""

from __future__ import annotations

import asyncio
import sqlite3

from openai import AsyncOpenAI

import peekr
from peekr.testing.fake_provider import FakeProvider


async def handle_request(client: AsyncOpenAI, tenant: str, user: str, question: str) -> None:
    # One session per request: every span inside carries these values.
    async with peekr.session(tenant_id=tenant, user_id=user, session_id=f"{tenant}-{user}", feature="support"):
        await client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": question}])
        # A nested session overrides one value for a block: this follow-up holds personal data,
        # so it is stored with retention_class="pii" (its input and output are redacted).
        async with peekr.session(retention_class="pii"):
            await client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": f"My email is {user}@example.com"}]
            )


async def main() -> None:
    # tenant_id given here is the default; session() values win over it (and over PEEKR_TENANT_ID).
    peekr.instrument(storage="sqlite", path="traces.db", tenant_id="internal")

    with FakeProvider() as fake:
        client = AsyncOpenAI(base_url=fake.openai_base_url, api_key="sk-fake", max_retries=0)
        # Concurrent requests from three tenants: asyncio tasks each carry their own session.
        await asyncio.gather(
            handle_request(client, "acme", "alice", "How do I reset my password?"),
            handle_request(client, "acme", "bob", "Where is my invoice?"),
            handle_request(client, "globex", "carol", "Cancel my plan"),
        )
        # Outside any session: the instrument() default tenant.
        await client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "health"}])
        await client.close()

    await peekr.aflush()
    peekr.shutdown()

    with sqlite3.connect("traces.db") as db:
        rows = db.execute(
            "SELECT tenant_id, COUNT(*), SUM(json_extract(attributes, '$.tokens_total')), "
            "COUNT(DISTINCT json_extract(attributes, '$.user_id')), SUM(retention_class = 'pii') "
            "FROM spans GROUP BY tenant_id ORDER BY tenant_id"
        ).fetchall()
    print(f"{'tenant':10} {'calls':>5} {'tokens':>6} {'users':>5} {'pii':>3}")
    for tenant, calls, tokens, users, pii in rows:
        print(f"{tenant:10} {calls:>5} {tokens:>6} {users:>5} {pii:>3}")


if __name__ == "__main__":
    asyncio.run(main())
