"""The serving commands behind ``run.py --status``, ``--serve`` and ``--undeploy``.

Each returns the lines to print, so run.py stays a thin door and tests call
them directly. They act through the active stack's model deployer only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from configs.schema import RunConfig
from stacks.flavors.traffic import Backend, Replica, VersionToServe
from steps.deployment.interrupted import record_interruptions
from steps.deployment.platform import active_splitter, endpoint_settings
from steps.promotion.stages import (
    UnknownVersionError,
    VersionRef,
    all_versions,
    configure_mlflow_from_stack,
    mlflow_aliases,
    sync_mlflow,
)


def _backend_line(backend: Backend, stages: dict[str, str]) -> str:
    health = "healthy" if backend.healthy else "UNHEALTHY"
    running = sum(1 for r in backend.replicas if r.pid is not None)
    where = (
        f"{running} of {len(backend.replicas)} replicas running"
        if backend.replicas
        else f"pid {backend.pid or '-'}, port {backend.port or '-'}"
    )
    return (
        f"  version {backend.version:<4} stage {stages.get(backend.version, '?'):<10} "
        f"weight {backend.weight:>3}%  {backend.state:<7} {health:<9} ({where})"
    )


def _replica_line(replica: Replica) -> str:
    """One supervised process: its real state, pid, port, uptime and restarts."""
    uptime = _duration(replica.uptime_seconds) if replica.uptime_seconds is not None else "-"
    check = "check ok" if replica.healthy else "check failing"
    return (
        f"      {replica.name:<34} {replica.state:<8} pid {replica.pid or '-':<7} "
        f"port {replica.port or '-':<5}  up {uptime:<8} restarts {replica.restarts:<3} {check}"
    )


def _duration(seconds: float) -> str:
    whole = int(seconds)
    if whole < 120:
        return f"{whole}s"
    if whole < 7200:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def decision_records(metadata: dict[str, Any], version: str) -> list[tuple[str, str]]:
    """(timestamp, line) for each deployment decision recorded on one version."""
    records: list[tuple[str, str]] = []
    gates = metadata.get("deployment_gates")
    if isinstance(gates, dict) and gates.get("at"):
        records.append((str(gates["at"]), f"version {version}: {gates.get('summary')}"))
    deployment = metadata.get("deployment")
    if isinstance(deployment, dict) and deployment.get("serving_since"):
        how = (
            f"rolled back to from version {deployment.get('replaced_version')} by "
            f"{deployment.get('promoted_by')}: {deployment.get('reason')}"
            if deployment.get("rollback")
            else f"replaced {deployment.get('replaced_version', 'none')}"
        )
        records.append(
            (
                str(deployment["serving_since"]),
                f"version {version}: serving 100% since {deployment['serving_since']} ({how})",
            )
        )
    checks = metadata.get("release_checks")
    if isinstance(checks, dict) and checks.get("at"):
        records.append(
            (
                str(checks["at"]),
                f"version {version}: {checks.get('decision')} by the "
                f"{str(checks.get('rejected_by') or 'canary').replace('_', ' ')}: "
                f"{checks.get('reason')}",
            )
        )
    interrupted = metadata.get("rollout_interrupted")
    if isinstance(interrupted, dict) and interrupted.get("at"):
        records.append(
            (str(interrupted["at"]), f"version {version}: interrupted: {interrupted.get('reason')}")
        )
    rollback = metadata.get("rollback")
    if isinstance(rollback, dict) and rollback.get("at"):
        records.append(
            (
                str(rollback["at"]),
                f"version {version}: rolled back to, from version "
                f"{rollback.get('rolled_back_from')}, by {rollback.get('by')} at "
                f"{rollback.get('at')}: {rollback.get('reason')}",
            )
        )
    return records


def last_decision(versions: list[VersionRef]) -> str | None:
    """The newest deployment decision recorded on any version, as one line."""
    from zenml.client import Client

    client = Client()
    records: list[tuple[str, str]] = []
    for ref in versions:
        metadata = dict(client.get_model_version(ref.model_name, ref.version).run_metadata)
        records += decision_records(metadata, ref.version)
    return max(records)[1] if records else None


def status_lines(config: RunConfig) -> list[str]:
    """The endpoint, each live version with stage, weight and health, and the last decision."""
    name = config.model.name
    splitter = active_splitter()
    configure_mlflow_from_stack()
    interrupted = record_interruptions(splitter, name)
    versions = all_versions(name)
    stages = {v.version: v.stage for v in versions}
    url = splitter.endpoint_url(name)
    lines = [f"Model '{name}'"]
    lines.append(
        f"Endpoint: {url}" if url else "Endpoint: not running (python run.py --serve --config ...)"
    )
    metrics = getattr(splitter, "metrics_url", lambda _name: None)(name)
    if url and metrics:
        lines.append(f"Metrics: {metrics} (loopback only)")
    production = [v for v in versions if v.stage == "production"]
    lines.append(
        f"Production: version {production[-1].version}" if production else "Production: none"
    )
    backends = splitter.backends(name)
    if backends:
        lines.append("Serving:")
        for backend in backends:
            lines.append(_backend_line(backend, stages))
            lines += [_replica_line(replica) for replica in backend.replicas]
    else:
        lines.append("Serving: no server running")
    lines += interrupted
    try:
        aliases = mlflow_aliases(name)
    except Exception:  # no MLflow registered model yet
        aliases = {}
    shown = ", ".join(f"{a} -> v{v}" for a, v in sorted(aliases.items())) or "none"
    lines.append(f"MLflow aliases: {shown}")
    decision = last_decision(versions)
    lines.append(f"Last decision: {decision or 'none yet'}")
    return lines


def serve_production(config: RunConfig) -> list[str]:
    """Bring the production version back behind the endpoint (after a reboot); idempotent."""
    name = config.model.name
    production = [v for v in all_versions(name) if v.stage == "production"]
    if not production:
        raise UnknownVersionError(
            f"model '{name}' has no production version: deploy one first "
            "(python run.py --pipeline deploy --config ...)"
        )
    ref = production[-1]
    splitter = active_splitter()
    splitter.check_ready()
    serving = config.deployment.serving
    configure_mlflow_from_stack()
    url = splitter.open_endpoint(name, endpoint_settings(serving))
    interrupted = record_interruptions(splitter, name)
    production = [v for v in all_versions(name) if v.stage == "production"]
    ref = production[-1]
    backend = splitter.serve_version(
        VersionToServe(model_name=name, version=ref.version, model_uri=ref.model_uri),
        timeout=serving.startup_timeout,
    )
    lines = list(interrupted)
    if backend.weight != 100:
        splitter.set_weights(name, {ref.version: 100})
        lines.append(f"Routed every request to version {ref.version}.")
    for other in splitter.backends(name):
        if other.version != ref.version:
            splitter.retire_version(name, other.version, serving.drain_timeout)
            lines.append(f"Stopped version {other.version} (not production).")
    configure_mlflow_from_stack()
    sync_mlflow(name)
    lines.append(f"Version {ref.version} of '{name}' serves at {url}")
    return lines


def undeploy_lines(model_name: str | None) -> list[str]:
    """Stop the model's servers and endpoint (every model's with None); nothing else."""
    stopped = active_splitter().shut_down(model_name)
    if stopped:
        return stopped
    return [f"Nothing was running for '{model_name}'." if model_name else "Nothing was running."]


def release_check_lines(rollout: dict[str, Any]) -> list[str]:
    """The load test's and the canary's figures of a deploy, one line each, for the user."""
    lines = []
    load = rollout.get("load_test")
    if isinstance(load, dict):
        lines.append(
            f"Load test: {load['requests']} requests, {load['error_rate']:.2%} errors, "
            f"p50 {load['p50_ms']:.0f} ms, p99 {load['p99_ms']:.0f} ms "
            f"({load['achieved_rps']:.1f} req/s); report: {load['report']}"
        )
    for check in rollout.get("canary") or []:
        mine, theirs = check["challenger"], check["champion"]
        lines.append(
            f"Canary step {check['step']} ({check['share']}%), check {check['check']}: "
            f"{check['outcome']}: {mine['requests']} vs {theirs['requests']} requests, "
            f"errors {mine['error_rate']:.2%} vs {theirs['error_rate']:.2%}, "
            f"{check['seconds']:.0f} s"
        )
    return lines


def replay_traffic(
    config: RunConfig,
    rate: float,
    duration: int,
    users: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[str]:
    """Send the production version's holdout rows to the stable endpoint (Locust, headless).

    What a laptop user runs in a second terminal to watch a canary judge real
    requests; CI's release job runs it in the background for the same reason.
    """
    from pathlib import Path

    from steps.deployment.candidates import load_version
    from steps.deployment.loadtest import parse_locust_stats, replay
    from steps.promotion.stages import version_in_stage

    name = config.model.name
    configure_mlflow_from_stack()
    production = version_in_stage(name, "production")
    if production is None:
        raise UnknownVersionError(
            f"{name} has no production version whose holdout rows could be replayed; "
            "deploy one first (python run.py --pipeline release --config ...)"
        )
    splitter = active_splitter()
    url = splitter.endpoint_url(name)
    if url is None:
        raise UnknownVersionError(
            f"{name}'s endpoint is not running; start it with python run.py --serve --config ..."
        )
    loaded = load_version(production, train_set=False, holdout_set=True)
    assert loaded.holdout_set is not None
    rows = loaded.holdout_set.drop(columns=[loaded.dataset_info.target], errors="ignore")
    users = users or max(1, min(20, round(rate / 10)))
    if progress is not None:
        progress(
            f"Replaying {len(rows)} holdout rows of version {production.version} to {url} at "
            f"{rate:g} req/s for {duration} s ({users} Locust users); Ctrl-C stops"
        )
    out_dir = (Path("reports") / "replay").resolve()
    protocol = next((b.protocol for b in splitter.backends(name)), "mlflow")
    started = time.monotonic()
    stopped_early = ""
    try:
        figures = replay(url, protocol, rows, rate, duration, users, out_dir, progress=progress)
    except KeyboardInterrupt:  # Locust is stopped and has written its figures: report them
        stats = out_dir / "replay_stats.csv"
        if not stats.is_file():
            raise
        figures = parse_locust_stats(stats, time.monotonic() - started)
        stopped_early = " (stopped early)"
    return [
        f"Replayed {figures.requests} requests in {figures.duration_s:.0f} s{stopped_early} "
        f"({figures.achieved_rps:.1f} req/s): {figures.failures} failed, "
        f"p50 {figures.p50_ms:.0f} ms, p99 {figures.p99_ms:.0f} ms (Locust's figures; "
        f"report in {out_dir})"
    ]
