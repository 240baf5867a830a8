"""ZenML's MLflow prediction service, serving through the project's lean scoring app.

The service is ZenML's ``MLFlowDeploymentService`` in every respect ZenML and the deployer
see (config, endpoint, health check, daemon, status, stop); only the process it runs
differs: uvicorn with :mod:`stacks.flavors.scoring_app` instead of MLflow's FastAPI scoring
server (why: that module's docstring). ZenML finds a service's class again from the source
path stored with it, so services started before keep running MLflow's server.
"""

from __future__ import annotations

import os

from zenml.client import Client
from zenml.integrations.mlflow.experiment_trackers import MLFlowExperimentTracker
from zenml.integrations.mlflow.services.mlflow_deployment import MLFlowDeploymentService
from zenml.logger import get_logger

from stacks.flavors.scoring_app import MODEL_PATH_VARIABLE

logger = get_logger(__name__)

#: The interface the server binds: this machine only, as the project's servers do.
SERVER_HOST = "127.0.0.1"
#: Seconds an idle keep-alive connection stays open. uvicorn's default is 5: a client that
#: reuses a connection idle a little longer (requests, urllib3 and the bench's loader do)
#: races the server's close and gets a broken answer to a POST nobody retries (seen as
#: IncompleteReadError at 100 req/s in bench/serving.py, on MLflow's own server too).
#: Longer than HAProxy's and common clients' idle timeouts, as nginx's default is.
KEEP_ALIVE_S = 75


class LeanMLflowDeploymentService(MLFlowDeploymentService):
    """An MLflow model served by the lean scoring app, as a ZenML local daemon service."""

    def run(self) -> None:
        """Download the model as MLflow's ``serve`` does, then run uvicorn in this process.

        Running uvicorn here (not as a child, as MLflow does) means stopping the
        daemon stops the server: no orphan keeps the port.
        """
        import uvicorn
        from mlflow.tracking.artifact_utils import _download_artifact_from_uri

        self.endpoint.prepare_for_start()
        port = self.endpoint.status.port
        if port is None:
            raise ValueError(f"{self}: the endpoint has no port to serve on")
        tracker = Client().active_stack.experiment_tracker
        if not isinstance(tracker, MLFlowExperimentTracker):
            raise ValueError(
                "serving an MLflow model needs an MLflow experiment tracker in the active stack"
            )
        tracker.configure_mlflow()
        local_path = _download_artifact_from_uri(self.config.model_uri)
        os.environ[MODEL_PATH_VARIABLE] = local_path
        logger.info(
            "Serving %s (%s) on %s:%s with %d worker(s)",
            self.config.model_uri,
            local_path,
            SERVER_HOST,
            port,
            self.config.workers,
        )
        uvicorn.run(
            "stacks.flavors.scoring_app:app_from_environment",
            factory=True,
            host=SERVER_HOST,
            port=port,
            workers=self.config.workers,
            access_log=False,
            timeout_keep_alive=KEEP_ALIVE_S,
            log_level="warning",
        )
