"""One prediction server replica: gunicorn's arbiter over uvicorn workers, the model loaded once.

What supervisord runs for each replica of a live version (:func:`replica_command`), and the
gunicorn configuration it reads (this module, ``-c python:stacks.flavors.replica``).

Why gunicorn around uvicorn: loading the model costs seconds (importing MLflow, and skops
importing every scikit-learn estimator to know which types it trusts: about 6 s of CPU,
over 10 s on a busy 2-core machine). With ``preload_app`` the arbiter loads it once and
forks the workers from that state, so a worker that dies (OOM, a crash in native code,
``kill -9``) is replaced by a fork in about 0.1 s, not a cold start; supervisord restarts
the arbiter itself if *it* dies (then the other replicas carry the traffic meanwhile). A
worker's parent-death signal (Linux) makes sure no orphaned worker keeps the port.

The model was downloaded from MLflow once by the deploy, so neither a restart nor a fork
needs ZenML or the tracking server. ``app lean`` serves :mod:`stacks.flavors.scoring_app`
(MLflow's contract at less cost per request), ``app mlflow`` MLflow's own scoring app.
"""

from __future__ import annotations

import ctypes
import signal
import sys
from typing import Any

#: The interface every replica binds: this machine only; HAProxy is the way in.
SERVER_HOST = "127.0.0.1"
#: Seconds an idle keep-alive connection stays open. uvicorn's default is 5: a client that
#: reuses a connection idle a little longer races the server's close and gets a broken
#: answer to a POST nobody retries (seen at 100 req/s in bench/serving.py, on MLflow's own
#: server too). Longer than HAProxy's and common clients' idle timeouts, as nginx's is.
KEEP_ALIVE_S = 75
#: Set unless the environment already sets them: scikit-learn's histogram gradient
#: boosting predicts with one OpenMP thread per core in every worker; a small request
#: gains nothing from threads, and the replicas' threads would contend (bench/README.md).
#: One thread also means no OpenMP thread pool exists when the arbiter forks.
ENV_DEFAULTS = {"OMP_NUM_THREADS": "1"}
#: The variable the lean app reads the model's directory from (scoring_app.MODEL_PATH_VARIABLE).
LEAN_MODEL_PATH_VARIABLE = "PROJECT_SCORING_MODEL_PATH"
#: MLflow's variable naming the model its scoring app (``mlflow.pyfunc.scoring_server.app``) loads.
MLFLOW_MODEL_PATH_VARIABLE = "__pyfunc_model_path__"
APPS = {
    "lean": "stacks.flavors.scoring_app:app_from_environment()",
    "mlflow": "mlflow.pyfunc.scoring_server.app:app",
}
#: Linux's prctl option that sends a signal to a process when its parent dies.
PR_SET_PDEATHSIG = 1

# --- gunicorn settings (read by ``gunicorn -c python:stacks.flavors.replica``) ----------------

worker_class = "uvicorn.workers.UvicornWorker"
preload_app = True
keepalive = KEEP_ALIVE_S
#: A worker silent this long (a prediction stuck in native code) is killed and replaced.
timeout = 60
graceful_timeout = 10
accesslog = None
loglevel = "warning"
control_socket_disable = True


def post_fork(server: Any, worker: Any) -> None:
    """In each new worker: die with the arbiter, so a killed arbiter leaves no orphan serving."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


# --- what supervisord runs ----------------------------------------------------------------


def replica_command(port: int, workers: int, app: str) -> list[str]:
    """The command line of one replica (the model path comes from :func:`replica_environment`)."""
    if app not in APPS:
        raise ValueError(f"unknown scoring app {app!r}; one of {sorted(APPS)}")
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        "python:stacks.flavors.replica",
        "--bind",
        f"{SERVER_HOST}:{port}",
        "--workers",
        str(workers),
        APPS[app],
    ]


def replica_environment(model_path: str, environ: dict[str, str]) -> dict[str, str]:
    """The variables a replica needs: where its model is, and :data:`ENV_DEFAULTS` unless set."""
    variables = {LEAN_MODEL_PATH_VARIABLE: model_path, MLFLOW_MODEL_PATH_VARIABLE: model_path}
    for name, value in ENV_DEFAULTS.items():
        if name not in environ:
            variables[name] = value
    return variables
