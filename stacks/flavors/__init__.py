"""The project's own stack component flavors: infrastructure that steps reach through the stack."""
