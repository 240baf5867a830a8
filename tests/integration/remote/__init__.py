"""Offline proofs that the Kubeflow and SageMaker stacks would work (servers on 127.0.0.1)."""
