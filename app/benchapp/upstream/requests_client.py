"""``requests``, for sync views: one ``Session`` over one urllib3 pool."""

from __future__ import annotations

import requests
from requests.adapters import HTTPAdapter

from benchapp.catalog import UpstreamClient
from benchapp.upstream import base


class RequestsClient:
    """One ``requests.Session``, shared by every thread (or greenlet) of the process."""

    name: UpstreamClient = "requests"

    def __init__(self) -> None:
        self._session = requests.Session()
        # The stub is an internal service: no proxies or ~/.netrc, which requests would
        # otherwise look up on every call (CPU that measures the environment, not the client).
        self._session.trust_env = False
        adapter = HTTPAdapter(
            pool_connections=1,  # pools kept, one per host: there is one upstream host
            pool_maxsize=base.pool_size(),
            # Past the limit a call waits for a pooled connection instead of opening an extra one
            # that the pool would close after the call (churn). Unlike httpx's and aiohttp's,
            # this wait has no timeout of its own (requests never passes urllib3's
            # pool_timeout): it ends when a holder's call ends, which its timeout bounds. djbench
            # sizes the pool for the run's peak, so no call waits unless a scenario says so.
            pool_block=True,
            max_retries=0,
        )
        self._session.mount("http://", adapter)

    def get(self, delay_ms: int) -> base.UpstreamReply:
        """One call to ``/delay/{delay_ms}``."""
        with base.failures_of(requests.RequestException):
            response = self._session.get(base.url(delay_ms), timeout=base.timeout())
            base.check_status(delay_ms, response.status_code)
            return base.UpstreamReply(self.name, delay_ms, response.status_code, response.json())
