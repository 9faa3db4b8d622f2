/** What the Python side hands the tests (tests/agents/typescript/test_typescript.py): a bot, a key, vectors. */

export function given(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(
      `${name} is not set: these tests are run by tests/agents/typescript/test_typescript.py` +
        " (python -m pytest), which starts a bot and makes the receipts' vectors",
    );
  }
  return value;
}
