"""``python -m djbench``."""

from djbench.cli import main

main()
