"""Local serving, for real: the ``local`` stack's model deployer, HAProxy and MLflow servers.

Once per test session: the project's ``local`` stack is registered in the
session's ZenML store and activated, two small scikit-learn models are logged
as versions 1 and 2 of one registered model (in the MLflow backend the stack's
experiment tracker uses, which is where the servers load them from), and one
stable endpoint is opened on a free port with version 1 at weight 100.

The tests in this package share that endpoint and change it in file order
(test_local_splitter.py switches it to version 2, kills and restores it);
every test starts by checking the state it needs. At the end everything is
shut down through the deployer and no process of it may be left.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pytest
import requests

from stacks.flavors.haproxy import AdminSocket, pid_alive, port_in_use, version_stats
from stacks.flavors.mlflow_haproxy import MLflowHAProxyModelDeployer
from stacks.flavors.traffic import EndpointSettings, TrafficSplitter, VersionToServe

MODEL_NAME = "splitter-fraud"
#: Each MLflow server takes 10-14 s to start; a slow shared machine gets more.
SERVER_TIMEOUT = 90
MAX_BODY_BYTES = 200_000
#: Every version runs as two supervised replicas, as the shipped configs do.
REPLICAS = 2


@dataclass(frozen=True)
class TrainedModel:
    """Two registered versions of one model and a request both accept."""

    name: str
    uris: dict[str, str]  # version -> model URI
    rows: pd.DataFrame  # feature rows as a client sends them

    def to_serve(self, version: str) -> VersionToServe:
        return VersionToServe(model_name=self.name, version=version, model_uri=self.uris[version])

    def payload(self, count: int = 1) -> dict[str, Any]:
        """A valid ``dataframe_split`` request body."""
        rows = self.rows.head(count)
        return {
            "dataframe_split": {
                "columns": list(rows.columns),
                "data": rows.astype(object).where(rows.notna(), None).values.tolist(),
            }
        }


@dataclass(frozen=True)
class Endpoint:
    """The stable endpoint the tests call, and the deployer behind it."""

    deployer: MLflowHAProxyModelDeployer
    model: TrainedModel
    url: str
    port: int

    def admin(self) -> AdminSocket:
        return AdminSocket(self.deployer.splitter_files(self.model.name).socket)

    def requests_by_version(self) -> dict[str, int]:
        """HAProxy's cumulative request count per version (its replicas summed)."""
        return {v: s.total_requests for v, s in version_stats(self.admin().show_stat()).items()}

    def weights(self) -> dict[str, int]:
        """The weights HAProxy routes by (not the state file's), per version's replica."""
        return {
            v: s.replicas[0].weight for v, s in version_stats(self.admin().show_stat()).items()
        }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _fit(frame: pd.DataFrame, target: str, strength: float) -> Any:
    """A small but real pipeline: one-hot categories, scaled numbers, logistic regression."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    features = frame.drop(columns=[target])
    categorical = [c for c in features.columns if features[c].dtype == object]
    numeric = [c for c in features.columns if c not in categorical]
    prepare = ColumnTransformer(
        [
            ("categories", OneHotEncoder(handle_unknown="ignore"), categorical),
            ("numbers", make_pipeline(SimpleImputer(), StandardScaler()), numeric),
        ]
    )
    model = Pipeline([("prepare", prepare), ("classify", LogisticRegression(C=strength))])
    return model.fit(features, frame[target])


@pytest.fixture(scope="session")
def local_stack() -> Iterator[str]:
    """The project's ``local`` stack, registered the way run.py does it, and active.

    What this fixture registered is removed again, and the stack that was
    active before is active again.
    """
    from zenml.client import Client
    from zenml.enums import StackComponentType

    from stacks.registration import find_stack_file, register_files

    client = Client()
    previous = client.active_stack_model.id
    path = find_stack_file("local")
    assert path is not None
    result = register_files([path])[0]
    client.activate_stack("local")
    try:
        yield "local"
    finally:
        client.activate_stack(previous)
        if result.created_stack:
            client.delete_stack("local")
        for created in result.created_components:
            kind, name = created.split("/", 1)
            client.delete_stack_component(name, StackComponentType(kind))
        for flavor in result.created_flavors:
            client.delete_flavor(flavor)


@pytest.fixture(scope="session")
def trained_model(local_stack: str) -> TrainedModel:
    """Versions 1 and 2 of MODEL_NAME in the MLflow registry and in ZenML's Model Control Plane.

    Logged to the experiment tracker's own backend (MLflow's global tracking
    URI is restored afterwards), as the training pipeline's steps would.
    """
    import mlflow
    from zenml.client import Client
    from zenml.integrations.mlflow.experiment_trackers import MLFlowExperimentTracker

    from steps.data.synthetic import generate_transactions
    from steps.registry.mlflow_model import log_sklearn_model, serving_example

    tracker = Client().active_stack.experiment_tracker
    assert isinstance(tracker, MLFlowExperimentTracker)
    frame = serving_example(generate_transactions(1500, seed=11, fraud_rate=0.1))
    target = "is_fraud"
    frame[target] = frame[target].astype(int)
    rows = frame.drop(columns=[target])
    previous_uri = mlflow.get_tracking_uri()
    uris = {}
    client = Client()
    client.create_model(name=MODEL_NAME)
    try:
        mlflow.set_tracking_uri(tracker.get_tracking_uri())
        mlflow.set_experiment("splitter-tests")
        for version, strength in (("1", 1.0), ("2", 0.05)):
            model = _fit(frame, target, strength)
            with mlflow.start_run():
                info = log_sklearn_model(model, rows.head(5), MODEL_NAME)
            assert str(info.registered_model_version) == version
            created = client.create_model_version(model_name_or_id=MODEL_NAME)
            assert str(created.number) == version
            uris[version] = f"models:/{MODEL_NAME}/{version}"
    finally:
        mlflow.set_tracking_uri(previous_uri)
    return TrainedModel(name=MODEL_NAME, uris=uris, rows=rows.tail(50).reset_index(drop=True))


def _process_tree(pid: int | None) -> list[int]:
    """A pid and all its descendants (supervisord runs everything under it)."""
    import psutil

    if pid is None:
        return []
    try:
        parent = psutil.Process(pid)
        return [pid, *(child.pid for child in parent.children(recursive=True))]
    except psutil.Error:
        return []


#: This package's own model deployer component: the ``local`` stack's flavor, another
#: component (so another ``local_path``). ``run.py --undeploy``, which e2e tests in the same
#: xdist worker run, stops everything the *local stack's* deployer started, not this.
OWN_DEPLOYER = "mlflow-haproxy-serving-tests"


def _own_deployer() -> MLflowHAProxyModelDeployer:
    """A model deployer of the ``mlflow_haproxy`` flavor only this package uses."""
    from zenml.client import Client
    from zenml.enums import StackComponentType
    from zenml.stack import StackComponent

    client = Client()
    kind = StackComponentType.MODEL_DEPLOYER
    try:
        model = client.get_stack_component(kind, OWN_DEPLOYER)
    except KeyError:
        model = client.create_stack_component(OWN_DEPLOYER, "mlflow_haproxy", kind, {})
    deployer = StackComponent.from_model(model)
    assert isinstance(deployer, MLflowHAProxyModelDeployer)
    return deployer


def _remove_own_deployer() -> None:
    """Delete this package's deployer component (the local stack's flavor goes after it)."""
    from zenml.client import Client
    from zenml.enums import StackComponentType

    Client().delete_stack_component(OWN_DEPLOYER, StackComponentType.MODEL_DEPLOYER)


def supervised_pids(deployer: MLflowHAProxyModelDeployer) -> set[int]:
    """supervisord and every process below it (HAProxy, replicas, guards, uvicorn workers)."""
    pid = deployer.supervisor().pid()
    return set(_process_tree(pid))


@pytest.fixture(scope="session")
def endpoint(trained_model: TrainedModel) -> Iterator[Endpoint]:
    """The stable endpoint with version 1 (two replicas) at weight 100; shut down and checked."""

    deployer = _own_deployer()
    assert isinstance(deployer, TrafficSplitter)
    port = free_port()
    seen_pids: set[int] = set()
    try:
        deployer.check_ready()
        url = deployer.open_endpoint(
            MODEL_NAME,
            EndpointSettings(port=port, max_body_bytes=MAX_BODY_BYTES, replicas=REPLICAS),
        )
        started = time.monotonic()
        deployer.serve_version(trained_model.to_serve("1"), timeout=SERVER_TIMEOUT)
        print(f"\nv1's replicas ready behind HAProxy in {time.monotonic() - started:.1f} s")
        deployer.set_weights(MODEL_NAME, {"1": 100})
        yield Endpoint(deployer=deployer, model=trained_model, url=url, port=port)
    finally:
        seen_pids |= supervised_pids(deployer)
        stopped = deployer.shut_down()
        _remove_own_deployer()  # before any check below can fail, or the flavor cannot go
        print("\n".join(["", "shut_down():", *stopped]))
        assert deployer.shut_down() == [], "a second shut_down has nothing left to stop"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(pid_alive(pid) for pid in seen_pids):
            time.sleep(0.2)
        assert not [pid for pid in seen_pids if pid_alive(pid)], "processes left running"
        assert not port_in_use("127.0.0.1", port), f"port {port} still open"
        assert not deployer.supervisor().is_running()


def ensure_serving(endpoint: Endpoint) -> None:
    """Start again any weighted version whose server is down, as ``run.py --serve`` would.

    ``run.py --undeploy`` in this store (an e2e test in the same xdist worker)
    stops every prediction server this project started, as documented; a test
    that needs the endpoint serving starts from that state.
    """
    for backend in endpoint.deployer.backends(endpoint.model.name):
        if backend.weight > 0 and not backend.healthy:
            endpoint.deployer.serve_version(
                endpoint.model.to_serve(backend.version), timeout=SERVER_TIMEOUT
            )


@dataclass
class RequestLoop:
    """Requests at a fixed rate to the stable endpoint from a thread, for as long as it runs.

    Open loop: a request is sent every ``1/rate`` seconds whether or not the
    previous one has finished (up to ``workers`` in flight), so a stall shows
    as failures or latency rather than as fewer requests.
    """

    url: str
    body: dict[str, Any]
    rate: float = 40.0
    max_seconds: float = 180.0
    workers: int = 8
    statuses: Counter[int] = field(default_factory=Counter)
    served_by: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    sent: int = 0
    _local: threading.local = field(default_factory=threading.local)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None

    def __enter__(self) -> RequestLoop:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=60)

    @property
    def failed(self) -> int:
        with self._lock:
            return len(self.errors) + sum(n for s, n in self.statuses.items() if s != 200)

    def snapshot(self) -> Counter[str]:
        with self._lock:
            return Counter(self.served_by)

    def _one(self) -> None:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        try:
            response = session.post(self.url, json=self.body, timeout=10)
            ok_body = response.status_code != 200 or "predictions" in response.json()
            with self._lock:
                self.statuses[response.status_code] += 1
                self.served_by[response.headers.get("X-Served-By", "?")] += 1
                if not ok_body:
                    self.errors.append(f"200 without predictions: {response.text[:100]}")
        except (requests.RequestException, ValueError) as error:
            with self._lock:
                self.errors.append(repr(error))

    def _run(self) -> None:
        from concurrent.futures import ThreadPoolExecutor

        started = time.monotonic()
        with ThreadPoolExecutor(self.workers) as pool:
            while not self._stop.is_set() and time.monotonic() - started < self.max_seconds:
                pool.submit(self._one)
                self.sent += 1
                next_at = started + self.sent / self.rate
                self._stop.wait(max(0.0, next_at - time.monotonic()))
