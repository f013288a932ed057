"""README's two commands are what CI and users run: keep them in step with .ci/run."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _shell_blocks(text: str) -> list[str]:
    blocks, inside, current = [], False, []
    for line in text.splitlines():
        if line.startswith("```"):
            if inside:
                blocks.append("\n".join(current).strip())
                current = []
            inside = not inside and line.strip() == "```sh"
            continue
        if inside:
            current.append(line)
    return blocks


def test_readme_commands_match_ci():
    setup, tests = _shell_blocks((ROOT / "README.md").read_text())[:2]
    ci = (ROOT / ".ci/run").read_text()
    assert tests in ci.splitlines()
    assert "cinemanet-edit tag examples/example.otio" in setup and "pip install -e '.[test]'" in setup
    assert "pip install --quiet -e '.[test]'" in ci
