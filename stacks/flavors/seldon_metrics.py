"""The canary's figures on a cluster: what Seldon Core v1's executor exported, read from Prometheus.

On Seldon the splitter (Istio or Ambassador) keeps no per-predictor counters
we can read, but every predictor's pods run Seldon's service orchestrator (the
"executor"), which times every request it serves in a Prometheus histogram
``seldon_api_executor_server_requests_seconds`` (``_bucket``, ``_count``,
``_sum``). What this module relies on, as Seldon Core v1 defines it:

- metric and label names: ``executor/api/metric/constants.go``
  (``ServerRequestsMetricName``, ``DeploymentNameMetric = "deployment_name"``,
  ``PredictorNameMetric = "predictor_name"``, ``ServiceMetric = "service"``,
  ``CodeMetric = "code"``), and ``doc/source/analytics/analytics.md`` ("Requests
  to the service orchestrator from an ingress");
- the REST server wraps each route with ``promhttp.InstrumentHandlerDuration``
  curried with ``deployment_name``, ``predictor_name``, ``predictor_version``
  and ``service`` (``executor/api/rest/server.go``, ``wrapMetrics``), so
  ``code`` is the HTTP status as text ("200", "400", "503") and ``method`` the
  lower-case verb. The V2 routes ``/v2/models/{model}/infer`` carry
  ``service="predictions"``; readiness and metadata calls are ``status`` and
  ``metadata``, which the queries leave out so health checks are not traffic;
- ``deployment_name`` is the SeldonDeployment's ``metadata.name`` and
  ``predictor_name`` the predictor's name: the operator starts the executor
  with ``--sdep <metadata.name> --predictor <predictor name>``
  (``operator/controllers/seldondeployment_engine.go``, ``createExecutorContainer``);
- the executor's pod spec is built from the predictor with ``traffic`` zeroed
  ("to ensure this doesn't cause a diff in the resulting deployment", same
  file, ``createEngineContainer``), so changing the weights does not restart
  the pods and their cumulative counters carry on across canary steps.

Sources: github.com/SeldonIO/seldon-core (the v1 line), the files named
above. Older executors labelled ``service`` with the route path
(``"/api/v0.1/predictions"``, as the sample output in ``executor/README.md``
shows); the ``predictions``/``status``/``metadata`` names came before the V2
(``kfserving``) routes did, so every executor that serves protocol v2 uses them.

Queries go to the Prometheus HTTP API's instant-query endpoint
``/api/v1/query`` (https://prometheus.io/docs/prometheus/latest/querying/api/).
Everything here is plain functions of text and JSON, no ZenML, so it is
tested on recorded answers; ``instant_query`` is the one that does HTTP.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from stacks.flavors.traffic import ServingError, TrafficCounters

#: The executor's server-side request histogram (requests from the ingress).
SERVER_METRIC = "seldon_api_executor_server_requests_seconds"
#: The ``service`` label of prediction routes (V2 ``.../infer`` included).
PREDICTIONS_SERVICE = "predictions"
#: The instant-query path of the Prometheus HTTP API.
QUERY_PATH = "/api/v1/query"
#: A PromQL duration, as Prometheus parses one: units largest first, each at most once.
_DURATION = re.compile(r"(\d+y)?(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?")


class MetricsError(ServingError):
    """Prometheus did not give figures the canary can use (refused, unreachable, unreadable)."""


@dataclass(frozen=True)
class Sample:
    """One element of an instant vector: its labels and its value."""

    labels: Mapping[str, str]
    value: float


def check_lookback(lookback: str) -> str:
    """``lookback`` if it is a PromQL range duration, else ValueError saying what is.

    Checked when the config is loaded, so a typo fails at registration and
    not as a Prometheus parse error in the middle of a canary.
    """
    if not _DURATION.fullmatch(lookback) or not set(lookback) & set("123456789"):
        raise ValueError(
            f"prometheus_lookback {lookback!r} is not a Prometheus duration such as '2m', '90s' "
            "or '1h30m' (units y, w, d, h, m, s, ms, largest first)"
        )
    return lookback


def _quoted(value: str) -> str:
    """A PromQL string literal (double quotes; backslash and quote escaped)."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def selector(deployment: str) -> str:
    """The label matchers for one SeldonDeployment's prediction requests."""
    return f"{{deployment_name={_quoted(deployment)},service={_quoted(PREDICTIONS_SERVICE)}}}"


def counts_query(deployment: str) -> str:
    """Cumulative requests per predictor and HTTP status, summed over the predictor's pods.

    An instant query of the raw counter (no ``rate``/``increase``): the
    protocol's figures are cumulative and the canary diffs two reads. A pod
    that restarts starts from zero, so the sum can drop; the canary treats a
    drop as a restart and counts that window from zero.
    """
    return f"sum by (predictor_name, code) ({SERVER_METRIC}_count{selector(deployment)})"


def latency_query(deployment: str, lookback: str) -> str:
    """Mean response time (seconds) per predictor over the last ``lookback``.

    Time summed over requests divided by their number, both as per-second
    rates over the window; 0/0 (no request in the window) is NaN, which
    :func:`parse_vector` keeps and :func:`traffic_counters` reads as "no figure".
    """
    window = f"[{check_lookback(lookback)}]"
    match = selector(deployment)
    return (
        f"sum by (predictor_name) (rate({SERVER_METRIC}_sum{match}{window}))"
        f" / sum by (predictor_name) (rate({SERVER_METRIC}_count{match}{window}))"
    )


def parse_vector(payload: Any, query: str) -> list[Sample]:
    """The samples of an instant-query answer; MetricsError for anything but a vector.

    The API's envelope is ``{"status": "success"|"error", "data": {"resultType":
    "vector", "result": [{"metric": {...}, "value": [<unix time>, "<number>"]}]}}``,
    with ``errorType``/``error`` when it failed. Values are text and may be
    "NaN" or "+Inf"; they are kept as floats for the caller to judge.
    """
    if not isinstance(payload, dict):
        raise MetricsError(f"Prometheus answered {query!r} with {type(payload).__name__}, not JSON")
    status = payload.get("status")
    if status == "error":
        raise MetricsError(
            f"Prometheus refused {query!r}: {payload.get('errorType', 'error')}: "
            f"{payload.get('error', 'no message')}"
        )
    data = payload.get("data")
    if status != "success" or not isinstance(data, dict):
        raise MetricsError(f"Prometheus answered {query!r} without a result (status {status!r})")
    if data.get("resultType") != "vector":
        raise MetricsError(
            f"Prometheus answered {query!r} with a {data.get('resultType')!r}, not an instant vector"
        )
    return [_sample(item, query) for item in data.get("result") or []]


def _sample(item: Any, query: str) -> Sample:
    try:
        labels = {str(k): str(v) for k, v in item["metric"].items()}
        _, text = item["value"]
        return Sample(labels=labels, value=float(text))
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise MetricsError(
            f"unreadable sample in Prometheus's answer to {query!r}: {item!r}"
        ) from error


def status_class(code: str) -> int | None:
    """The hundreds digit of an HTTP status label ("503" -> 5); None for anything else."""
    return int(code[0]) if len(code) == 3 and code.isdigit() else None


def traffic_counters(
    counts: Iterable[Sample],
    latencies: Iterable[Sample],
    version_of: Callable[[str], str],
    versions: Iterable[str] = (),
) -> dict[str, TrafficCounters]:
    """The protocol's figures per version from the two queries' samples.

    ``version_of`` maps a predictor name to the version it carries;
    ``versions`` are the versions the endpoint routes to, reported with zero
    counts while Prometheus has no series for them yet (the executor creates
    a series on its first request). A count that is not a finite number is
    skipped; a latency that is not (no request in the lookback) is None.
    """
    requests: dict[str, int] = dict.fromkeys(versions, 0)
    errors: dict[tuple[str, int], int] = {}
    for sample in counts:
        name = sample.labels.get("predictor_name")
        if not name or not math.isfinite(sample.value):
            continue
        version, number = version_of(name), round(sample.value)
        requests[version] = requests.get(version, 0) + number
        kind = status_class(sample.labels.get("code", ""))
        if kind in (4, 5):
            errors[version, kind] = errors.get((version, kind), 0) + number
    latency_ms: dict[str, float] = {}
    for sample in latencies:
        name = sample.labels.get("predictor_name")
        if name and math.isfinite(sample.value):
            latency_ms[version_of(name)] = sample.value * 1000.0
    return {
        version: TrafficCounters(
            version=version,
            requests=total,
            responses_4xx=errors.get((version, 4), 0),
            responses_5xx=errors.get((version, 5), 0),
            recent_latency_ms=latency_ms.get(version),
        )
        for version, total in requests.items()
    }


def instant_query(base_url: str, query: str, timeout: float) -> list[Sample]:
    """GET ``<base_url>/api/v1/query?query=...``; its samples, or MetricsError naming the URL.

    Prometheus answers a bad query with 400 (or 422 when it fails to run, 503
    when it times out) and the same JSON envelope, whose ``error`` says why;
    that message is kept. A proxy or ingress in front may answer without
    JSON, in which case the HTTP status is what is reported.
    """
    import requests

    url = base_url.rstrip("/") + QUERY_PATH
    try:
        response = requests.get(url, params={"query": query}, timeout=timeout)
    except requests.Timeout as error:
        raise MetricsError(f"Prometheus at {url} did not answer within {timeout:g} s") from error
    except requests.RequestException as error:
        raise MetricsError(f"cannot reach Prometheus at {url}: {error}") from error
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if not response.ok and not (isinstance(payload, dict) and payload.get("status") == "error"):
        raise MetricsError(
            f"Prometheus at {url} answered HTTP {response.status_code} {response.reason}"
        )
    try:
        return parse_vector(payload, query)
    except MetricsError as error:
        raise MetricsError(f"{error} (Prometheus at {url}, HTTP {response.status_code})") from None
