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


def test_layout_section_matches_the_tree():
    text = (ROOT / "README.md").read_text()
    layout = text[text.index("## Layout"):text.index("## Licence")]
    modules = [p for p in (ROOT / "cinemanet_edit").glob("*.py") if p.name not in ("__init__.py", "__main__.py")]
    modules += [p for p in (ROOT / "adapters").glob("*.py") if not p.name.startswith("_")]
    modules += [p for p in (ROOT / "cinemanet_edit" / "training").glob("*.py") if p.name != "__init__.py"]
    missing = [str(p.relative_to(ROOT)) for p in modules if p.name not in layout]
    assert not missing, f"README's Layout section does not name: {missing}"
    for folder in ("resolve/", "training/"):
        assert folder in layout and (ROOT / "cinemanet_edit" / folder).is_dir()
