"""The ``knbc`` command line, one module per command group: ``corpus ...`` (:mod:`.corpus`), ``train``,
``assemble``, ``train-generator`` (:mod:`.train`), ``evaluate``, ``evaluate-generation``, ``evaluate-taggers``,
``evaluate-posts``, ``evaluate-splitter``, ``benchmark`` (:mod:`.evaluate`), ``report`` (:mod:`.report`),
``classify``, ``tag``, ``generate``, ``similar`` (:mod:`.generate`),
``process`` (:mod:`.process`), ``pretrain`` (:mod:`.pretrain`). Each command is a thin wrapper over a library function."""

from __future__ import annotations

from pipeline.cli import corpus, evaluate, generate, pretrain, process, report, train  # noqa: F401  (register the commands)
from pipeline.cli.common import app, user_errors

__all__ = ["app", "main", "user_errors"]


def main() -> None:
    """Entry point for ``python -m pipeline.cli``."""
    app()


if __name__ == "__main__":
    main()
