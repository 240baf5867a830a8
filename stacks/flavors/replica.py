"""One prediction server replica: uvicorn serving a local MLflow model on 127.0.0.1.

What supervisord runs for each replica of a live version (``python -m
stacks.flavors.replica --model-path ... --port ...``). The model was downloaded
from MLflow once by the deploy, so a restart after a crash needs neither ZenML
nor the tracking server: it loads the files and answers in seconds.

``--app lean`` serves :mod:`stacks.flavors.scoring_app` (MLflow's contract at less
cost per request), ``--app mlflow`` MLflow's own FastAPI scoring app, as
``mlflow models serve`` runs it.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

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
ENV_DEFAULTS = {"OMP_NUM_THREADS": "1"}
#: MLflow's variable naming the model its scoring app (``mlflow.pyfunc.scoring_server.app``) loads.
MLFLOW_MODEL_PATH_VARIABLE = "__pyfunc_model_path__"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-path", required=True, help="local directory of the MLflow model")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--app", choices=("lean", "mlflow"), default="lean")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Serve until stopped (supervisord sends SIGTERM; uvicorn finishes in-flight requests)."""
    import uvicorn

    from stacks.flavors.scoring_app import MODEL_PATH_VARIABLE

    args = parse_args(argv)
    for name, value in ENV_DEFAULTS.items():
        os.environ.setdefault(name, value)
    os.environ[MODEL_PATH_VARIABLE] = args.model_path
    os.environ[MLFLOW_MODEL_PATH_VARIABLE] = args.model_path
    if args.app == "lean":
        target, factory = "stacks.flavors.scoring_app:app_from_environment", True
    else:
        target, factory = "mlflow.pyfunc.scoring_server.app:app", False
    uvicorn.run(
        target,
        factory=factory,
        host=SERVER_HOST,
        port=args.port,
        workers=args.workers,
        access_log=False,
        timeout_keep_alive=KEEP_ALIVE_S,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
