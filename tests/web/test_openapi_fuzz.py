"""A property-based pass over the OpenAPI document (schemathesis strategies driven by hypothesis):
no generated request gets a 500. Driven directly rather than through schemathesis' pytest plugin, which
does not support this pytest version."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.web.conftest import ADMIN, Site

pytestmark = pytest.mark.engine


@pytest.mark.timeout(1200)  # about 70 operations x 8 requests: minutes on a busy machine
def test_no_generated_request_gets_a_server_error(site: Site) -> None:
    schema = schemathesis.openapi.from_url(site.url + "/api/v1/openapi.json", auth=ADMIN)
    checked = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), database=None, derandomize=True
        )
        def check(case: schemathesis.Case) -> None:
            response = case.call(base_url=site.url, auth=ADMIN)
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}"
            )

        check()
        checked.append(f"{operation.method.upper()} {operation.path}")
    assert len(checked) >= 60, checked
