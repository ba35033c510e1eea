"""What comes in: report files of every format read into ``Report`` models (``importers``, with one module per
format in ``formats/``, a registry keyed by name), the chrome and failure rules applied to them, the sidecar that
``dreval import`` writes, and task files of every format read into ``Task`` models (``task_files``)."""
