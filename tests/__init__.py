"""The tests. Imported before anything of theirs (pytest imports `tests.conftest` as a module of this package), so
the one setting every test process needs first is made here: Python's bytecode caches are written even where
`PYTHONDONTWRITEBYTECODE` is set (as on the CI machine). Otherwise each test process of a parallel run compiles the
product and the test modules again (the test modules with pytest's assertion rewriting), about 10 s of CPU apiece,
and each `python -m bot` a test starts compiles the product again."""

import sys

sys.dont_write_bytecode = False
