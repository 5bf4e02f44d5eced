"""mkdocs-gen-files runs this at every build: the reference pages and the benchmarks page, written
into the site from the code and the repository (nothing generated is committed)."""

import sys
from pathlib import Path

import mkdocs_gen_files

sys.path.insert(0, str(Path(__file__).parent))
import reference  # noqa: E402  (beside this script)

ROOT = Path(__file__).resolve().parents[2]

for name, text in (("config", reference.config_reference()), ("cli", reference.cli_reference()),
                   ("api", reference.api_reference())):
    with mkdocs_gen_files.open(f"reference/{name}.md", "w") as page:
        page.write(text)

# BENCHMARKS.md stays where it is (bench/'s scripts print its tables); the site shows it as it stands,
# its links to docs/ pages made relative to the site (benchmarks.md sits beside them). The dated
# rounds are docs/benchmarks-archive.md, an ordinary page.
title, _, rest = (ROOT / "BENCHMARKS.md").read_text(encoding="utf-8").partition("\n")
rest = rest.replace("](docs/", "](")
with mkdocs_gen_files.open("benchmarks.md", "w") as page:
    page.write(f"{title}\n\n!!! note\n    This page is the repository's `BENCHMARKS.md`, shown as it stands. "
               "Speed is measured by the scripts in `bench/`, never in the tests; each section gives the "
               f"command that produced its figures.\n{rest}")
mkdocs_gen_files.set_edit_path("benchmarks.md", "../BENCHMARKS.md")
