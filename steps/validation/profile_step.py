"""ZenML steps: look up the reference profile, and record this run's data profile.

The lookup is never cached: which version is the reference changes whenever a
version is registered. The profile is an artifact of every run; the register
step links it to the new model version, which makes it the next run's reference.
"""

from __future__ import annotations

from typing import Annotated

import pandas as pd
from zenml import log_metadata, step

from configs.schema import DataConfig
from steps.data.info import DatasetInfo
from steps.validation.profile import DataProfile, ReferenceProfile, profile_frame
from steps.validation.reference import PROFILE_ARTIFACT, find_reference


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


@step
def profile_dataset(
    dataset: pd.DataFrame, dataset_info: DatasetInfo, data: DataConfig
) -> Annotated[DataProfile, PROFILE_ARTIFACT]:
    """This run's data profile, which later runs of the model are validated against."""
    return profile_frame(
        dataset,
        dataset_info.features,
        data,
        sha256=dataset_info.sha256,
        excluded=dataset_info.excluded,
    )
