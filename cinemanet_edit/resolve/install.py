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
MARK = "# installed by cinemanet-edit"


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


def rendered_script(python: str, dry_run: bool = False) -> str:
    """The script with the engine's Python (and the dry-run setting) recorded in CONFIG."""
    source = (Path(__file__).with_name("script.py")).read_text(encoding="utf-8")
    import cinemanet_edit

    site = str(Path(cinemanet_edit.__file__).resolve().parent.parent)  # where the engine imports us from
    config = repr({"python": python, "version": __version__, "dry_run": dry_run, "site": site})  # a literal
    placeholder = 'CONFIG = {"python": None, "version": None, "dry_run": False}'
    if placeholder not in source:
        raise CinemanetError("the Resolve script template has no CONFIG line")
    return f"{MARK} {__version__}\n" + source.replace(placeholder, f"CONFIG = {config}")


def install(scope: str = "user", dry_run: bool = False, platform: str | None = None,
            python: str | None = None) -> tuple[str, bool]:
    """Write the script and its dry-run twin; returns (path of the main script, written)."""
    folder = scripts_folder(scope, platform)
    target = folder / SCRIPT_NAME
    if dry_run:
        return str(target), False
    if platform_name(platform) != platform_name():
        raise CinemanetError("--platform other than this machine's only works with --dry-run")
    path = Path(str(target))
    for name in (SCRIPT_NAME, DRY_RUN_NAME):
        existing = path.parent / name
        if existing.exists() and not existing.read_text(encoding="utf-8", errors="replace").startswith(MARK):
            raise CinemanetError(f"{existing}: a script of that name exists and was not installed by cinemanet-edit; "
                                 "left alone (rename or remove it first)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        for name, dry in ((SCRIPT_NAME, False), (DRY_RUN_NAME, True)):
            atomic_write(path.parent / name, rendered_script(python or sys.executable, dry).encode("utf-8"))
    except PermissionError:
        hint = " (try --user, or run as administrator)" if scope == "system" else ""
        raise CinemanetError(f"{path.parent}: permission denied{hint}") from None
    return str(target), True


def uninstall(scope: str = "user", dry_run: bool = False, platform: str | None = None) -> tuple[str, bool]:
    folder = Path(str(scripts_folder(scope, platform)))
    removed = False
    for name in (SCRIPT_NAME, DRY_RUN_NAME):
        path = folder / name
        if not path.exists():
            continue
        if not path.read_text(encoding="utf-8", errors="replace").startswith(MARK):
            raise CinemanetError(f"{path}: not installed by cinemanet-edit; left alone")
        if not dry_run:
            path.unlink()
            removed = True
    return str(folder / SCRIPT_NAME), removed
