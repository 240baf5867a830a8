"""Print each training step's configured output names, in order, as JSON.

Run as ``python -m tests.integration.output_orders`` by the cache-key test:
a module inside the project, so ZenML finds its source root as in real runs.
"""

import json

from zenml.steps import BaseStep

from pipelines import training

if __name__ == "__main__":
    steps = [value for value in vars(training).values() if isinstance(value, BaseStep)]
    print(json.dumps({s.name: list(s.configuration.outputs) for s in steps}))
