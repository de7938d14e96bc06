"""The PostgreSQL backend (``ENRICH_MCP_DATABASE_URL=postgresql://…``): every store of a team's replicas.

One module per store, all on one :class:`PostgresDatabase` (one async pool per process, plus the
sandbox's synchronous connections) and one versioned schema (:mod:`.schema`). Each implements the
same protocol as its embedded sibling and passes the same contract tests (``tests/stores/``):

=====================  ==========================================  ==========================
store                  embedded default (data directory)           PostgreSQL
=====================  ==========================================  ==========================
job ledger, results    :class:`enrich_mcp.jobs.SqliteJobStore`      :class:`PgJobStore`
spend ledger           :class:`enrich_mcp.budget.SpendLedger`       :class:`PgSpendStore`
result cache           :class:`enrich_mcp.cache.DiskCacheStore`     :class:`PgCacheStore`
vendor rate windows    :class:`enrich_mcp.stores.ratelimit.SqliteRateWindow`  :class:`PgRateWindow`
sandbox state          :class:`enrich_mcp.sandbox.store.SqliteSandboxStore`  :class:`PgSandboxStore`
=====================  ==========================================  ==========================

Importing this package needs the ``postgres`` extra (psycopg 3 and psycopg-pool).
"""

from enrich_mcp.stores.postgres.cache import PgCacheStore
from enrich_mcp.stores.postgres.database import PostgresDatabase
from enrich_mcp.stores.postgres.jobs import PgJobStore
from enrich_mcp.stores.postgres.ratelimit import PgRateWindow
from enrich_mcp.stores.postgres.sandbox import PgSandboxStore
from enrich_mcp.stores.postgres.spend import PgSpendStore

__all__ = ["PgCacheStore", "PgJobStore", "PgRateWindow", "PgSandboxStore", "PgSpendStore", "PostgresDatabase"]
