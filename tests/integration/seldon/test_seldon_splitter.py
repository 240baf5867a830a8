"""The Seldon flavor is the project's TrafficSplitter: serve v1, switch to v2, retire v1.

Everything but the cluster is real: the flavor from the registered stack, ZenML's
deploy_model and services, MLflow's registry (on moto's S3) and the kubernetes
client. The fake API server (fake_kube.py) checks every SeldonDeployment it is
sent against the vendored CRD and refuses what the real server would refuse;
``operator_ready`` stands in for the Seldon operator marking deployments Available.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from stacks.flavors.traffic import EndpointSettings, ServingError, TrafficSplitter
from tests.integration.seldon.conftest import Rollout
from tests.integration.seldon.crd import manifest_errors
from tests.integration.seldon.fake_kube import ClusterState

SDEPS = "/apis/machinelearning.seldon.io/v1/namespaces/seldon/seldondeployments"
BASE_URL = "https://seldon.fraudops.example.com/seldon/seldon"


def _sdep(cluster: ClusterState, name: str) -> dict[str, Any] | None:
    return cluster.objects.get(("seldondeployments", "seldon", name))


def _traffic(cluster: ClusterState, model: str) -> dict[str, int]:
    endpoint = _sdep(cluster, model)
    assert endpoint is not None, "no endpoint deployment"
    return {p["name"]: p["traffic"] for p in endpoint["spec"]["predictors"]}


def test_the_seldon_deployer_is_a_traffic_splitter(rollout: Rollout) -> None:
    """The capability check the deployment steps make (steps/deployment/platform.py)."""
    assert isinstance(rollout.deployer, TrafficSplitter)
    rollout.deployer.check_ready()


def test_serve_v1_switch_to_v2_retire_v1(rollout: Rollout) -> None:
    """The whole switch, through the protocol only, checked on the cluster at each step."""
    deployer, cluster, model = rollout.deployer, rollout.cluster, rollout.model
    start = cluster.mark()
    endpoint = deployer.open_endpoint(model, EndpointSettings())
    assert endpoint == f"{BASE_URL}/{model}/v2/models/classifier/infer"
    assert deployer.endpoint_url(model) is None, "no endpoint before a version is weighted"

    first = deployer.serve_version(rollout.v1, timeout=5)
    assert (first.version, first.weight, first.healthy, first.protocol) == ("1", 0, True, "v2")
    assert first.url == f"{BASE_URL}/{model}-v1/v2/models/classifier/infer"
    v1_manifest = _sdep(cluster, f"{model}-v1")
    assert v1_manifest is not None and v1_manifest["spec"]["protocol"] == "v2"

    deployer.set_weights(model, {"1": 100})
    assert deployer.endpoint_url(model) == endpoint
    assert _traffic(cluster, model) == {"v1": 100}

    deployer.serve_version(rollout.v2, timeout=5)
    deployer.set_weights(model, {"1": 90, "2": 10})
    assert _traffic(cluster, model) == {"v1": 90, "v2": 10}, "a canary: two predictors"
    assert [(b.version, b.weight) for b in deployer.backends(model)] == [("1", 90), ("2", 10)]

    deployer.set_weights(model, {"2": 100})
    assert _traffic(cluster, model) == {"v2": 100}
    deployer.retire_version(model, "1", drain_timeout=0)
    assert _sdep(cluster, f"{model}-v1") is None
    assert [(b.version, b.weight, b.healthy) for b in deployer.backends(model)] == [
        ("2", 100, True)
    ]
    graph = _sdep(cluster, model)["spec"]["predictors"][0]["graph"]  # type: ignore[index]
    assert graph["modelUri"].startswith("s3://fraudops-artifacts/")
    assert graph["implementation"] == "MLFLOW_SERVER" and graph["name"] == "classifier"

    sent = cluster.bodies("POST", "seldondeployments", start)
    sent += cluster.bodies("PUT", "seldondeployments", start)
    assert {b["metadata"]["name"] for b in sent} == {model, f"{model}-v1", f"{model}-v2"}
    assert all(b["spec"]["protocol"] == "v2" for b in sent)
    assert all(status != 501 for _, _, status in cluster.summary(start)), cluster.summary(start)


def test_every_manifest_the_flavor_sent_passes_the_crd(
    rollout: Rollout, crd_schema: dict[str, Any]
) -> None:
    """The fake refused nothing, and each body is valid on its own as well (this module's
    calls: another module may send broken manifests on purpose)."""
    since = rollout.since
    sent = rollout.cluster.bodies("POST", "seldondeployments", since)
    sent += rollout.cluster.bodies("PUT", "seldondeployments", since)
    assert sent
    assert all(manifest_errors(b, crd_schema) == [] for b in sent)
    refused = [c for c in rollout.cluster.summary(since) if c[2] == 422]
    assert refused == []


def test_the_cluster_refuses_a_broken_endpoint_and_routing_stays(rollout: Rollout) -> None:
    """A manifest the CRD rejects (traffic as text) is a ServingError, and nothing changed."""
    deployer, cluster, model = rollout.deployer, rollout.cluster, rollout.model
    deployer.serve_version(rollout.v2, timeout=5)
    deployer.set_weights(model, {"2": 100})
    before = copy.deepcopy(_sdep(cluster, model))
    broken = copy.deepcopy(before)
    assert broken is not None
    broken["spec"]["predictors"][0]["traffic"] = "100"
    with pytest.raises(ServingError, match=r"422.*traffic"):
        deployer.seldon_client.apply_manifest(broken)
    assert _sdep(cluster, model) == before


@pytest.mark.parametrize(
    "weights",
    [{"2": 50}, {"2": 101, "1": -1}, {"3": 100}],
    ids=["not-100", "out-of-range", "not-served"],
)
def test_weights_the_endpoint_cannot_take_are_refused(
    rollout: Rollout, weights: dict[str, int]
) -> None:
    deployer, model = rollout.deployer, rollout.model
    deployer.serve_version(rollout.v2, timeout=5)
    deployer.set_weights(model, {"2": 100})
    before = _traffic(rollout.cluster, model)
    with pytest.raises(ServingError):
        deployer.set_weights(model, weights)
    assert _traffic(rollout.cluster, model) == before


def test_a_weighted_version_is_not_retired(rollout: Rollout) -> None:
    deployer, model = rollout.deployer, rollout.model
    deployer.serve_version(rollout.v2, timeout=5)
    deployer.set_weights(model, {"2": 100})
    with pytest.raises(ServingError, match="set_weights"):
        deployer.retire_version(model, "2", drain_timeout=0)
    assert _sdep(rollout.cluster, f"{model}-v2") is not None


def test_serving_a_version_twice_reuses_its_deployment(rollout: Rollout) -> None:
    deployer, cluster = rollout.deployer, rollout.cluster
    deployer.serve_version(rollout.v2, timeout=5)
    start = cluster.mark()
    again = deployer.serve_version(rollout.v2, timeout=5)
    assert again.version == "2" and again.healthy
    assert cluster.bodies("POST", "seldondeployments", start) == []


def test_shut_down_removes_every_deployment_of_the_model(rollout: Rollout) -> None:
    """Endpoint first (no traffic to a missing version), then each version's deployment."""
    deployer, cluster, model = rollout.deployer, rollout.cluster, rollout.model
    deployer.serve_version(rollout.v2, timeout=5)
    deployer.set_weights(model, {"2": 100})
    stopped = deployer.shut_down(model)
    assert stopped[0] == f"endpoint SeldonDeployment seldon/{model}"
    assert f"version SeldonDeployment seldon/{model}-v2" in stopped
    left = [key for key in cluster.objects if key[0] == "seldondeployments" and model in key[2]]
    assert left == [] and deployer.backends(model) == [] and deployer.endpoint_url(model) is None
    assert deployer.shut_down(model) == [], "idempotent"


def test_an_expired_roll_out_lease_restores_the_single_predictor(rollout: Rollout) -> None:
    """A deploy that died mid-canary: its lease (an annotation on the endpoint manifest)
    expires, and the next command of that model routes everything back to the champion,
    removes the challenger and reports the interruption once."""
    import time

    deployer, cluster, model = rollout.deployer, rollout.cluster, rollout.model
    deployer.open_endpoint(model, EndpointSettings())
    deployer.serve_version(rollout.v1, timeout=5)
    deployer.set_weights(model, {"1": 100})
    deployer.serve_version(rollout.v2, timeout=5)
    deployer.begin_rollout(model, "1", "2", lease_seconds=60)
    deployer.set_weights(model, {"1": 90, "2": 10})
    annotations = _sdep(cluster, model)["metadata"]["annotations"]  # type: ignore[index]
    assert "fraudops/rollout-lease" in annotations, "set_weights keeps the lease"
    assert deployer.recover_rollout(model) == [], "a live lease is left alone"
    assert _traffic(cluster, model) == {"v1": 90, "v2": 10}

    deployer.renew_rollout(model, lease_seconds=0.2)  # the deploy's last renewal
    time.sleep(0.5)
    [interruption] = deployer.recover_rollout(model)
    assert (interruption.version, interruption.champion) == ("2", "1")
    assert "interrupted" in interruption.reason
    assert _traffic(cluster, model) == {"v1": 100}
    assert _sdep(cluster, f"{model}-v2") is None
    deployer.mark_recorded(model, {"2"})
    assert deployer.recover_rollout(model) == [], "reported once"
    annotations = _sdep(cluster, model)["metadata"]["annotations"]  # type: ignore[index]
    assert "fraudops/rollout-lease" not in annotations
