"""The tests. Imported before anything of theirs (pytest imports `tests.conftest` as a module of this package), so
the settings every test process needs first are made here.

Python's bytecode caches are written even where `PYTHONDONTWRITEBYTECODE` is set (as on the CI machine). Otherwise
each test process of a parallel run compiles the product and the test modules again (the test modules with pytest's
assertion rewriting), about 10 s of CPU apiece, and each `python -m bot` a test starts compiles the product again.

`rfc3987_syntax` is not imported: the `release` extra brings it (cyclonedx-bom's `jsonschema[format-nongpl]`, for
`cyclonedx-py`, which runs as its own process), and `jsonschema`, imported by the product, imports it when it is
installed, building 39 Lark grammars: 2.5 s of CPU in each test process (more under the audit hook of
`tests/support/slow.py`, which hears each of Lark's million `id()` calls). A worker installed with its own extras has
no such package, so the tests now see the `jsonschema` a worker sees (tests/test_suite_shape.py)."""

import sys

sys.dont_write_bytecode = False
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]  # (None: importing it fails, as uninstalled)
