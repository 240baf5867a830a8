"""Find the reference a run's data is compared with: the profile of a registered version.

The reference is the model's production version (the champion the deployment
pipeline promoted), or its latest registered version while none is in production.
Versions registered before profiles existed, or a model with no version yet, give
no reference, and the note says so.
"""

from __future__ import annotations

from steps.validation.profile import DataProfile, ReferenceProfile

#: The artifact name under which every run stores its data profile.
PROFILE_ARTIFACT = "data_profile"


def find_reference(model_name: str, accept_change: bool) -> ReferenceProfile:
    """The production (else latest) version of ``model_name`` and its data profile, if any."""
    from zenml.client import Client
    from zenml.enums import ModelStages

    if accept_change:
        return ReferenceProfile(
            model=model_name,
            note="Reference checks skipped (--accept-data-change): this run's data becomes "
            "the reference once its version is registered.",
        )
    try:
        version = Client().get_model_version(model_name, ModelStages.PRODUCTION)
    except KeyError:
        version = None
    try:
        version = version or Client().get_model_version(model_name, ModelStages.LATEST)
    except KeyError:
        return ReferenceProfile(
            model=model_name,
            note=f"No registered version of '{model_name}' yet: nothing to compare with; this "
            "run's data profile becomes the reference once registered.",
        )
    artifact = version.get_artifact(PROFILE_ARTIFACT)
    if artifact is None:
        return ReferenceProfile(
            model=model_name,
            version=version.name,
            note=f"Version {version.name} of '{model_name}' has no data profile (registered "
            "before profiles were recorded): nothing to compare with.",
        )
    profile = artifact.load()
    assert isinstance(profile, DataProfile)
    return ReferenceProfile(
        model=model_name,
        version=version.name,
        profile=profile,
        note=f"Compared with the data of '{model_name}' version {version.name} "
        f"({profile.rows} rows).",
    )
