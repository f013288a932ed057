"""Install the Resolve script where Resolve looks for scripts (Fusion/Scripts/Utility: every page).

The installed copy records which Python runs the engine (the one running this command), so the script
finds cinemanet-edit however it was installed (venv, pipx, conda).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path, PurePosixPath, PureWindowsPath

from .. import __version__
from ..errors import CinemanetError
from ..files import atomic_write

SCRIPT_NAME = "CinemaNet Tag Timeline.py"
DRY_RUN_NAME = "CinemaNet Tag Timeline (dry run).py"
LEARN_NAME = "CinemaNet Learn Corrections.py"
SCRIPTS = {SCRIPT_NAME: {"dry_run": False, "action": "tag"}, DRY_RUN_NAME: {"dry_run": True, "action": "tag"},
           LEARN_NAME: {"dry_run": False, "action": "learn"}}  # every file install writes, with its settings
MARK = "# installed by cinemanet-edit"
FREE_PATH = ("Free DaVinci Resolve 21.1 and later lists no Python scripts (scripting is a Studio feature there). "
             "Without scripting: File > Export > Timeline as .otio (or .fcpxml); "
             "`cinemanet-edit tag cut.otio -o markers.edl --edl-style resolve -o tagged.otio`; then in the Media "
             "Pool right-click the timeline > Timelines > Import > Timeline Markers from EDL (markers.edl), or "
             "File > Import > Timeline (tagged.otio: a copy of the cut with every marker).")


def platform_name(platform: str | None = None) -> str:
    platform = platform or sys.platform
    if platform.startswith("darwin") or platform == "macos":
        return "macos"
    if platform.startswith("win"):
        return "windows"
    return "linux"


def scripts_folder(scope: str = "user", platform: str | None = None, env: dict | None = None):
    """Resolve's Fusion/Scripts/Utility folder for this OS and scope ("user" or "system")."""
    env = os.environ if env is None else env
    system = platform_name(platform)
    if system == "windows":
        if scope == "user":
            base = env.get("APPDATA") or "%APPDATA%"
            return PureWindowsPath(base, "Blackmagic Design", "DaVinci Resolve", "Support", "Fusion", "Scripts",
                                   "Utility")
        base = env.get("PROGRAMDATA") or r"C:\ProgramData"
        return PureWindowsPath(base, "Blackmagic Design", "DaVinci Resolve", "Fusion", "Scripts", "Utility")
    home = env.get("HOME") or str(Path.home())
    if system == "macos":
        root = PurePosixPath(home, "Library") if scope == "user" else PurePosixPath("/Library")
        return root / "Application Support/Blackmagic Design/DaVinci Resolve/Fusion/Scripts/Utility"
    if scope == "user":
        return PurePosixPath(home, ".local/share/DaVinciResolve/Fusion/Scripts/Utility")
    return PurePosixPath("/opt/resolve/Fusion/Scripts/Utility")


def rendered_script(python: str, dry_run: bool = False, action: str = "tag") -> str:
    """The script with the engine's Python, the dry-run setting and its action recorded in CONFIG."""
    source = (Path(__file__).with_name("script.py")).read_text(encoding="utf-8")
    import cinemanet_edit

    site = str(Path(cinemanet_edit.__file__).resolve().parent.parent)  # where the engine imports us from
    config = repr({"python": python, "version": __version__, "dry_run": dry_run, "site": site,
                   "action": action})  # a literal
    placeholder = 'CONFIG = {"python": None, "version": None, "dry_run": False, "action": "tag"}'
    if placeholder not in source:
        raise CinemanetError("the Resolve script template has no CONFIG line")
    return f"{MARK} {__version__}\n" + source.replace(placeholder, f"CONFIG = {config}")


def _ours_or_absent(folder: Path) -> list[Path]:
    """The script files of ours present in ``folder``; a one-line error when one of the names is someone else's."""
    present = []
    for name in SCRIPTS:
        path = folder / name
        if path.exists():
            if not path.read_text(encoding="utf-8", errors="replace").startswith(MARK):
                raise CinemanetError(f"{path}: a script of that name exists and was not installed by "
                                     "cinemanet-edit; left alone (rename or remove it first)")
            present.append(path)
    return present


def install(scope: str = "user", dry_run: bool = False, platform: str | None = None,
            python: str | None = None) -> tuple[list[str], bool]:
    """Write every script (tag, its dry-run twin, learn); returns (their paths, written)."""
    folder = scripts_folder(scope, platform)
    targets = [str(folder / name) for name in SCRIPTS]
    if dry_run:
        return targets, False
    if platform_name(platform) != platform_name():
        raise CinemanetError("--platform other than this machine's only works with --dry-run")
    folder = Path(str(folder))
    _ours_or_absent(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, settings in SCRIPTS.items():
            atomic_write(folder / name, rendered_script(python or sys.executable, **settings).encode("utf-8"))
    except PermissionError:
        hint = " (try --user, or run as administrator)" if scope == "system" else ""
        raise CinemanetError(f"{folder}: permission denied{hint}") from None
    return targets, True


def uninstall(scope: str = "user", dry_run: bool = False, platform: str | None = None) -> tuple[list[str], bool]:
    """Remove the scripts install wrote (none of anyone else's); returns (the paths removed or to remove, removed)."""
    present = _ours_or_absent(Path(str(scripts_folder(scope, platform))))
    if not dry_run:
        for path in present:
            path.unlink()
    return [str(p) for p in present], bool(present) and not dry_run
