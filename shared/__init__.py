"""The common library of devops-tasks: AWS clients, input parsing, run reports, time budget, observability."""

__version__ = "0.1.0"
PROJECT = "devops-tasks"
