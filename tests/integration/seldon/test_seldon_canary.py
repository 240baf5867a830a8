"""The Seldon side of the canary: the manifests each step sends, and the figures it reads.

The canary (steps/deployment/canary.py) only calls the protocol:
``set_weights(model, {champion: 100 - share, challenger: share})`` per step,
``traffic_counters(model)`` around each window, and on a breach the switch's
restore, ``set_weights(model, {champion: 100})``. Here the flavor from the
registered stack does exactly that against the fake API server, which checks
every SeldonDeployment against the vendored CRD; the manifest it received at
each step is asserted, predictors, weights and graphs.

What refuses what, for a broken endpoint manifest:

- the CRD's openAPIV3Schema types ``spec.predictors[].traffic`` as an int32
  integer and requires ``predictors`` and each predictor's ``name`` and
  ``graph``; the API server rejects a manifest that breaks it (422), and
  prunes fields it does not declare (the fake rejects those, see crd.py);
- it says nothing about the sum. Seldon's validating webhook does
  (``checkTraffic`` in operator/apis/machinelearning.seldon.io/v1/
  seldondeployment_webhook.go: "Traffic must sum to 100 for multiple
  predictors", a single predictor's traffic 0 or 100, no duplicate predictor
  names). The fake API server runs no webhook, and the flavor checks weights
  itself anyway, sending nothing when they are wrong.

The figures come from Prometheus over real HTTP: a local server
(fake_prometheus.py) answers with the recorded answers in
tests/unit/stacks/data/, and the deployer is the stack component as ZenML
loads it after ``zenml model-deployer update ... --prometheus_url=...``.
"""

from __future__ import annotations

import copy
import socket
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any

import pytest

from stacks.flavors import seldon_metrics
from stacks.flavors.seldon_mlserver import (
    VERSION_LABEL,
    SeldonMLServerModelDeployer,
    SeldonMLServerModelDeployerConfig,
)
from stacks.flavors.traffic import ServingError, TrafficCounters
from tests.integration.seldon.conftest import Rollout
from tests.integration.seldon.crd import manifest_errors, schema_node
from tests.integration.seldon.fake_kube import ClusterState
from tests.integration.seldon.fake_prometheus import FakePrometheus, recorded

NAMESPACE = "seldon"
CHAMPION, CHALLENGER = "1", "2"


# --- helpers ---------------------------------------------------------------------------------


def stored(cluster: ClusterState, name: str) -> dict[str, Any] | None:
    return cluster.objects.get(("seldondeployments", NAMESPACE, name))


def stored_endpoint(cluster: ClusterState, model: str) -> dict[str, Any]:
    """The model's endpoint SeldonDeployment as the cluster stores it (it must exist)."""
    found = stored(cluster, model)
    assert found is not None, f"no endpoint deployment {model}"
    return found


def sent_endpoint(cluster: ClusterState, model: str, since: int) -> dict[str, Any]:
    """The one endpoint manifest the fake accepted after ``since`` (create or replace)."""
    bodies = [
        body
        for method in ("POST", "PUT")
        for body in cluster.bodies(method, "seldondeployments", since)
        if body["metadata"]["name"] == model
    ]
    assert len(bodies) == 1, cluster.summary(since)
    return bodies[0]


def routing(manifest: Mapping[str, Any]) -> list[tuple[str, int, str]]:
    """(predictor name, traffic, version label) of each predictor, in manifest order."""
    return [
        (p["name"], p["traffic"], p["labels"][VERSION_LABEL])
        for p in manifest["spec"]["predictors"]
    ]


def writes(cluster: ClusterState, since: int) -> list[tuple[str, str, int]]:
    """Every call after ``since`` that would change the cluster."""
    return [call for call in cluster.summary(since) if call[0] in {"POST", "PUT", "DELETE"}]


def rounded(counters: Mapping[str, TrafficCounters]) -> dict[str, TrafficCounters]:
    """The counters with latencies to 6 decimals (milliseconds from seconds are inexact)."""
    return {
        version: replace(c, recent_latency_ms=round(c.recent_latency_ms, 6))
        if c.recent_latency_ms is not None
        else c
        for version, c in counters.items()
    }


@pytest.fixture(scope="module")
def served(rollout: Rollout) -> Rollout:
    """Both versions served (each its own SeldonDeployment), the champion alone on the endpoint."""
    rollout.deployer.serve_version(rollout.v1, timeout=5)
    rollout.deployer.serve_version(rollout.v2, timeout=5)
    rollout.deployer.set_weights(rollout.model, {CHAMPION: 100})
    return rollout


def step(
    served: Rollout, weights: dict[str, int], crd_schema: dict[str, Any]
) -> list[tuple[str, int, str]]:
    """Set ``weights`` as the canary does; the routing of the manifest the cluster received,
    after checking it is what is stored, valid on its own, and built from the versions' own
    deployments. A weighted version that an earlier test retired is served again first."""
    cluster, model = served.cluster, served.model
    for version in (served.v1, served.v2):
        if weights.get(version.version):
            served.deployer.serve_version(version, timeout=5)
    since = cluster.mark()
    served.deployer.set_weights(model, weights)
    manifest = sent_endpoint(cluster, model, since)
    assert manifest_errors(manifest, crd_schema) == []
    assert manifest["spec"]["protocol"] == "v2" and manifest["spec"]["name"] == model
    assert stored_endpoint(cluster, model)["spec"] == manifest["spec"]
    for predictor in manifest["spec"]["predictors"]:
        version = predictor["labels"][VERSION_LABEL]
        own = stored(cluster, f"{model}-v{version}")
        assert own is not None, f"v{version} has its own deployment"
        assert predictor["graph"] == own["spec"]["predictors"][0]["graph"]
        assert predictor["graph"]["implementation"] == "MLFLOW_SERVER"
    return routing(manifest)


# --- manifests per step ----------------------------------------------------------------------


def test_a_canary_widens_the_challengers_share_step_by_step(
    served: Rollout, crd_schema: dict[str, Any]
) -> None:
    """10%, 50%, then the switch: two predictors while both serve, the challenger alone after."""
    champion, challenger = CHAMPION, CHALLENGER
    assert routing(stored_endpoint(served.cluster, served.model)) == [("v1", 100, "1")]

    assert step(served, {champion: 90, challenger: 10}, crd_schema) == [
        ("v1", 90, "1"),
        ("v2", 10, "2"),
    ]
    assert step(served, {champion: 50, challenger: 50}, crd_schema) == [
        ("v1", 50, "1"),
        ("v2", 50, "2"),
    ]
    assert step(served, {champion: 0, challenger: 100}, crd_schema) == [("v2", 100, "2")]
    assert [(b.version, b.weight) for b in served.deployer.backends(served.model)] == [
        ("1", 0),
        ("2", 100),
    ], "the champion still served, on no predictor: retire_others stops it next"


def test_the_switch_after_the_canary_names_the_challenger_alone(
    served: Rollout, crd_schema: dict[str, Any]
) -> None:
    """rollout.py switches with ``{new: 100}``; the same manifest as ``{old: 0, new: 100}``."""
    step(served, {CHAMPION: 50, CHALLENGER: 50}, crd_schema)
    assert step(served, {CHALLENGER: 100}, crd_schema) == [("v2", 100, "2")]


@pytest.mark.parametrize(
    "breach_at",
    [[10], [10, 50]],
    ids=["at-10", "at-50"],
)
def test_a_rollback_sends_every_request_back_to_the_champion(
    served: Rollout, crd_schema: dict[str, Any], breach_at: list[int]
) -> None:
    """The canary breaches; the switch's restore routes to the champion, then retires the
    challenger (its own deployment goes, the endpoint keeps the champion alone)."""
    deployer, cluster, model = served.deployer, served.cluster, served.model
    step(served, {CHAMPION: 100}, crd_schema)
    for share in breach_at:
        routed = step(served, {CHAMPION: 100 - share, CHALLENGER: share}, crd_schema)
        assert routed == [("v1", 100 - share, "1"), ("v2", share, "2")]

    assert step(served, {CHAMPION: 100}, crd_schema) == [("v1", 100, "1")]
    deployer.retire_version(model, CHALLENGER, drain_timeout=0)
    assert stored(cluster, f"{model}-v2") is None
    assert routing(stored_endpoint(cluster, model)) == [("v1", 100, "1")]


# --- what the CRD rejects, what the flavor refuses -------------------------------------------


def _break_traffic_text(m: dict[str, Any]) -> None:
    m["spec"]["predictors"][1]["traffic"] = "10"


def _break_traffic_fraction(m: dict[str, Any]) -> None:
    m["spec"]["predictors"][0]["traffic"] = 89.5
    m["spec"]["predictors"][1]["traffic"] = 10.5


def _break_no_graph(m: dict[str, Any]) -> None:
    del m["spec"]["predictors"][1]["graph"]


def _break_no_predictors(m: dict[str, Any]) -> None:
    del m["spec"]["predictors"]


def _break_misspelt_traffic(m: dict[str, Any]) -> None:
    m["spec"]["predictors"][1]["trafic"] = m["spec"]["predictors"][1].pop("traffic")


@pytest.mark.parametrize(
    ("breaks", "field"),
    [
        (_break_traffic_text, r"spec\.predictors\.1\.traffic: '10' is not of type 'integer'"),
        (_break_traffic_fraction, r"spec\.predictors\.0\.traffic: 89\.5 is not of type 'integer'"),
        (_break_no_graph, r"spec\.predictors\.1: 'graph' is a required property"),
        (_break_no_predictors, r"spec: 'predictors' is a required property"),
        (_break_misspelt_traffic, r"spec\.predictors\.1\.trafic: not in the CRD schema"),
    ],
    ids=["traffic-text", "traffic-fraction", "no-graph", "no-predictors", "misspelt"],
)
def test_the_cluster_refuses_what_the_crd_rejects_and_routing_stays(
    served: Rollout, crd_schema: dict[str, Any], breaks: Any, field: str
) -> None:
    """A manifest the CRD rejects is a ServingError carrying the API server's 422 message,
    and the stored endpoint is unchanged."""
    step(served, {CHAMPION: 90, CHALLENGER: 10}, crd_schema)
    before = copy.deepcopy(stored_endpoint(served.cluster, served.model))
    broken = copy.deepcopy(before)
    breaks(broken)
    with pytest.raises(ServingError, match=rf"updating {served.model}: the cluster answered 422"):
        served.deployer.seldon_client.apply_manifest(broken)
    with pytest.raises(ServingError, match=field):
        served.deployer.seldon_client.apply_manifest(broken)
    assert stored(served.cluster, served.model) == before


def test_the_crd_leaves_the_sum_of_traffic_to_the_webhook(
    served: Rollout, crd_schema: dict[str, Any]
) -> None:
    """Traffic summing to 90 is valid for the schema (no minimum, maximum or sum rule):
    only Seldon's webhook would refuse it, which is why the flavor checks weights itself."""
    traffic = schema_node(crd_schema, ("spec", "predictors", 0, "traffic"))
    assert traffic == {"format": "int32", "type": "integer"}
    step(served, {CHAMPION: 90, CHALLENGER: 10}, crd_schema)
    manifest = copy.deepcopy(stored_endpoint(served.cluster, served.model))
    manifest["spec"]["predictors"][0]["traffic"] = 80
    assert manifest_errors(manifest, crd_schema) == []


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ({CHAMPION: 80, CHALLENGER: 10}, r"must sum to 100.*\(sum 90\)"),
        ({CHAMPION: 90, CHALLENGER: 20}, r"must sum to 100.*\(sum 110\)"),
        ({CHAMPION: 0, CHALLENGER: 0}, r"must sum to 100.*\(sum 0\)"),
        ({CHAMPION: 90.0, CHALLENGER: 10}, r"integers 0\.\.100.*90\.0"),
        ({CHAMPION: "90", CHALLENGER: 10}, r"integers 0\.\.100.*'90'"),
        ({CHAMPION: True, CHALLENGER: 99}, r"integers 0\.\.100.*True"),
        ({CHAMPION: 110, CHALLENGER: -10}, r"integers 0\.\.100"),
    ],
    ids=["sum-90", "sum-110", "sum-0", "float", "text", "bool", "out-of-range"],
)
def test_the_flavor_refuses_weights_before_sending_anything(
    served: Rollout, crd_schema: dict[str, Any], weights: dict[str, Any], message: str
) -> None:
    step(served, {CHAMPION: 90, CHALLENGER: 10}, crd_schema)
    before = stored(served.cluster, served.model)
    since = served.cluster.mark()
    with pytest.raises(ServingError, match=message):
        served.deployer.set_weights(served.model, weights)
    assert served.cluster.summary(since) == [], "refused before any call to the cluster"
    assert stored(served.cluster, served.model) == before


def test_two_versions_on_one_predictor_name_are_refused(served: Rollout) -> None:
    """Predictor names are DNS labels; two versions that map to one name would collide
    (Seldon's webhook refuses duplicate names) and their figures would mix."""
    since = served.cluster.mark()
    with pytest.raises(ServingError, match=r"'1\.0' and '1-0' would both be predictor 'v1-0'"):
        served.deployer.set_weights(served.model, {"1.0": 50, "1-0": 50})
    assert writes(served.cluster, since) == []


# --- figures from Prometheus, over HTTP ------------------------------------------------------


@pytest.fixture(scope="module")
def prometheus() -> Iterator[FakePrometheus]:
    server = FakePrometheus().start()
    try:
        yield server
    finally:
        server.stop()


def deployer_with(**settings: Any) -> SeldonMLServerModelDeployer:
    """The active stack's model deployer after ``zenml model-deployer update <name> --k=v``,
    loaded from the store the way a step's process loads it (None removes a setting)."""
    from zenml.client import Client
    from zenml.enums import StackComponentType
    from zenml.stack import StackComponent

    client = Client()
    kind = StackComponentType.MODEL_DEPLOYER
    name = client.active_stack_model.components[kind][0].name
    client.update_stack_component(name, kind, configuration=settings)
    deployer = StackComponent.from_model(client.get_stack_component(kind, name))
    assert isinstance(deployer, SeldonMLServerModelDeployer)
    return deployer


@pytest.fixture
def metered(
    served: Rollout,
    prometheus: FakePrometheus,
    crd_schema: dict[str, Any],
    stack_components: dict[str, dict[str, Any]],
) -> Iterator[SeldonMLServerModelDeployer]:
    """The endpoint at 90/10 and a deployer reading the local Prometheus; the stack file's
    settings again afterwards."""
    step(served, {CHAMPION: 90, CHALLENGER: 10}, crd_schema)
    prometheus.state.answer_with((200, recorded("counts")), (200, recorded("latency")))
    configured = stack_components["model_deployer"]["configuration"]
    try:
        yield deployer_with(
            prometheus_url=prometheus.url, prometheus_lookback="2m", prometheus_timeout=5.0
        )
    finally:
        deployer_with(
            prometheus_url=configured.get("prometheus_url"),
            prometheus_lookback=configured.get("prometheus_lookback"),
            prometheus_timeout=configured.get("prometheus_timeout"),
        )


def test_the_registered_component_has_the_stack_files_prometheus(
    served: Rollout, stack_components: dict[str, dict[str, Any]]
) -> None:
    """local-seldon.yaml's setting went through the project's registration into the config."""
    config = served.deployer.config
    assert isinstance(config, SeldonMLServerModelDeployerConfig)
    expected = stack_components["model_deployer"]["configuration"]["prometheus_url"]
    assert config.prometheus_url == expected and expected.startswith("https://")
    assert (config.prometheus_lookback, config.prometheus_timeout) == ("2m", 10.0)


def test_traffic_counters_reads_both_queries_over_http(
    metered: SeldonMLServerModelDeployer, prometheus: FakePrometheus, served: Rollout
) -> None:
    counters = metered.traffic_counters(served.model)
    assert rounded(counters) == {
        "1": TrafficCounters("1", 42088, 212, 3, 12.843908),
        "2": TrafficCounters("2", 4628, 25, 1, 19.271186),
    }
    assert prometheus.state.queries == [
        seldon_metrics.counts_query(served.model),
        seldon_metrics.latency_query(served.model, "2m"),
    ]
    assert 'deployment_name="seldon-offline-fraud"' in prometheus.state.queries[0]


def test_the_lookback_setting_is_the_latency_window(
    metered: SeldonMLServerModelDeployer, prometheus: FakePrometheus, served: Rollout
) -> None:
    deployer = deployer_with(prometheus_lookback="5m")
    deployer.traffic_counters(served.model)
    assert prometheus.state.queries[1].count("[5m]") == 2


def test_weighted_versions_without_series_yet_are_reported_at_zero(
    metered: SeldonMLServerModelDeployer, prometheus: FakePrometheus, served: Rollout
) -> None:
    """Right after set_weights the challenger has answered nothing Prometheus has scraped."""
    prometheus.state.answer_with((200, recorded("empty")), (200, recorded("empty")))
    assert metered.traffic_counters(served.model) == {
        "1": TrafficCounters("1", 0, 0, 0, None),
        "2": TrafficCounters("2", 0, 0, 0, None),
    }


def test_an_idle_version_has_no_latency(
    metered: SeldonMLServerModelDeployer, prometheus: FakePrometheus, served: Rollout
) -> None:
    prometheus.state.answer_with((200, recorded("counts")), (200, recorded("latency_idle")))
    counters = metered.traffic_counters(served.model)
    assert counters["2"].requests == 4628 and counters["2"].recent_latency_ms is None


def test_prometheus_refusing_the_query_is_a_serving_error_naming_the_url(
    metered: SeldonMLServerModelDeployer, prometheus: FakePrometheus, served: Rollout
) -> None:
    prometheus.state.answer_with((200, recorded("counts")), (400, recorded("error")))
    with pytest.raises(ServingError) as caught:
        metered.traffic_counters(served.model)
    message = str(caught.value)
    assert f"{prometheus.url}/api/v1/query" in message and "HTTP 400" in message
    assert "bad_data" in message and "parse error" in message


def test_a_proxy_error_page_is_a_serving_error_with_the_status(
    metered: SeldonMLServerModelDeployer, prometheus: FakePrometheus, served: Rollout
) -> None:
    page = "<html><body><h1>502 Bad Gateway</h1></body></html>"
    prometheus.state.answer_with((502, page), (502, page))
    with pytest.raises(ServingError, match=rf"Prometheus at {prometheus.url}/api/v1/query .*502"):
        metered.traffic_counters(served.model)


def test_a_wrong_path_is_a_serving_error(
    metered: SeldonMLServerModelDeployer, prometheus: FakePrometheus, served: Rollout
) -> None:
    """prometheus_url pointing at a path Prometheus does not serve (a typo, a missing
    route prefix) answers 404 in plain text."""
    deployer = deployer_with(prometheus_url=f"{prometheus.url}/prom")
    with pytest.raises(ServingError, match=r"/prom/api/v1/query answered HTTP 404"):
        deployer.traffic_counters(served.model)


def test_an_unreachable_prometheus_is_a_serving_error_naming_the_url(
    metered: SeldonMLServerModelDeployer, served: Rollout
) -> None:
    with socket.socket() as probe:  # a port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    deployer = deployer_with(prometheus_url=f"http://127.0.0.1:{port}")
    with pytest.raises(
        ServingError, match=rf"cannot reach Prometheus at http://127\.0\.0\.1:{port}/api/v1/query"
    ):
        deployer.traffic_counters(served.model)


def test_a_slow_prometheus_is_a_serving_error_after_the_timeout(
    metered: SeldonMLServerModelDeployer, prometheus: FakePrometheus, served: Rollout
) -> None:
    deployer = deployer_with(prometheus_timeout=0.2)
    prometheus.state.delay = 1.0
    with pytest.raises(
        ServingError, match=rf"{prometheus.url}/api/v1/query did not answer within 0\.2 s"
    ):
        deployer.traffic_counters(served.model)


def test_without_prometheus_url_the_error_says_how_to_set_it(
    metered: SeldonMLServerModelDeployer, prometheus: FakePrometheus, served: Rollout
) -> None:
    deployer = deployer_with(prometheus_url=None)
    assert deployer.config.prometheus_url is None
    with pytest.raises(
        ServingError, match=rf"zenml model-deployer update {deployer.name} --prometheus_url="
    ):
        deployer.traffic_counters(served.model)
    assert prometheus.state.queries == [], "nothing asked"


def test_no_endpoint_deployment_is_a_serving_error(
    metered: SeldonMLServerModelDeployer, prometheus: FakePrometheus
) -> None:
    with pytest.raises(ServingError, match=r"endpoint SeldonDeployment seldon/no-such-model"):
        metered.traffic_counters("no-such-model")
    assert prometheus.state.queries == []


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"prometheus_url": "prometheus.seldon-system.svc:9090"}, "http:// or https://"),
        ({"prometheus_url": "http://"}, "with a host"),
        ({"prometheus_lookback": "2 minutes"}, "not a Prometheus duration"),
        ({"prometheus_timeout": 0}, "greater than 0"),
    ],
    ids=["no-scheme", "no-host", "lookback", "timeout"],
)
def test_bad_prometheus_settings_fail_when_the_config_is_loaded(
    settings: dict[str, Any], message: str
) -> None:
    from pydantic import ValidationError

    base = {
        "base_url": "https://seldon.example.com",
        "secret": None,
        "kubernetes_secret_name": None,
    }
    with pytest.raises(ValidationError, match=message):
        SeldonMLServerModelDeployerConfig(**base, **settings)


def test_the_config_defaults_leave_the_canary_unconfigured() -> None:
    config = SeldonMLServerModelDeployerConfig(
        base_url="https://seldon.example.com", secret=None, kubernetes_secret_name=None
    )
    assert (config.prometheus_url, config.prometheus_lookback, config.prometheus_timeout) == (
        None,
        "2m",
        10.0,
    )
