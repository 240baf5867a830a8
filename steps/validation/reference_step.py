"""ZenML step: look up the profile this run's data is compared with.

Never cached: which version is the reference changes whenever a version is
registered. This run's own profile is an output of ``ingest_data``; the register
step links it to the new model version, which makes it the next run's reference.
"""

from __future__ import annotations

from typing import Annotated

from zenml import log_metadata, step

from steps.validation.profile import ReferenceProfile
from steps.validation.reference import find_reference


@step(enable_cache=False)
def reference_profile(
    model_name: str, accept_data_change: bool
) -> Annotated[ReferenceProfile, "reference_profile"]:
    """The profile of the model's latest registered version (or why there is none)."""
    reference = find_reference(model_name, accept_data_change)
    log_metadata(
        metadata={"reference_version": reference.version or "none", "note": reference.note},
        artifact_name="reference_profile",
        infer_artifact=True,
    )
    return reference
