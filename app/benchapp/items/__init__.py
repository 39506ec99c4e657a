"""The one table the workloads read and write: ``items``."""
