"""The ``devops-tasks`` command: list the tasks, invoke one locally, run the demo. Not packaged into Lambda."""
