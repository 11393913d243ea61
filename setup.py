"""The wheel carries the shipped data inside the package, so that an installed package works anywhere.

``pip install .`` copies :data:`pipeline.resources.SHIPPED` (the default pipeline, the keywords
generator, the KNB corpus with its license, the livedoor news corpus with its licences) into
``pipeline/_shipped/`` of the built package, following the symlinks of pipelines assembled by
reference. An editable install reads them from the checkout instead. Everything else is declared in pyproject.toml.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
# as pipeline/resources.py lists them
SHIPPED = ("models/knbc", "models/generator-keywords", "corpora/knbc", "corpora/livedoor")


class BuildWithShippedData(build_py):
    """build_py, then a copy of the shipped data under pipeline/_shipped/ (not for editable installs)."""

    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        for relative in SHIPPED:
            target = Path(self.build_lib) / "pipeline" / "_shipped" / relative
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(ROOT / relative, target, ignore=shutil.ignore_patterns("__pycache__"))


setup(cmdclass={"build_py": BuildWithShippedData})
