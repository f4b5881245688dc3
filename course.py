#!/usr/bin/env python3
"""The course's two commands (and a few more), with nothing but the Python standard library.

    python course.py lab      # set up .venv if needed, write your copies of the notebooks, open JupyterLab
    python course.py test     # set up .venv if needed, run the unit tests and every notebook (smoke), both editions
    python course.py bench [--budget laptop] [--html] [--edition student] [NN ...]   # time notebooks, print their figures
    python course.py lab --instructor           # the instructor edition (with solutions), paired with the sources
    python course.py notebooks [--instructor]   # only write the missing .ipynb files of an edition
    python course.py test-browser [NN ...]      # every notebook of the student edition in JupyterLab, in headless Chromium
    python course.py test-browser --self-test   # notebooks broken on purpose must fail it
    python course.py prepare [--budget laptop] [--check]   # train and save every notebook's models before class
    python course.py site [--budget laptop]     # the course as a static site, both editions, built offline
    python course.py format                     # rewrite sources as JupyterLab saves them

Students work in ``student/`` (git-ignored): ``lab`` writes the student edition of each notebook
there once and never overwrites it. The sources in ``notebooks/`` are the instructor edition.

``make lab`` / ``make test`` / ``make bench`` / ``make test-browser`` call exactly these, so a machine without make
(Windows: ``py course.py lab``) runs the same steps. ``--here`` uses the Python running this
script (e.g. a conda environment made from environment.yml) instead of ``.venv``, and installs
nothing.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
NOTEBOOKS = ROOT / "notebooks"
STUDENT = ROOT / "student"
FIRST = "00_start_here.ipynb"
RUNS = ROOT / "runs"
DEFAULT_EXTRAS = ("lab", "test")  # what .venv gets; test-browser adds "browser"


def say(msg: str) -> None:
    print(f"[course] {msg}", flush=True)


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def lab_notebooks(edition: str = "student", folder: Path | None = None) -> list[str]:
    """The notebooks ``make lab`` opens, as paths relative to the server root (this folder), in
    course order; the lab starts at the first. The browser test opens exactly these (written fresh
    into its own ``folder``, so that it tests the sources, not a student's edited copies).

    The student edition lives in ``student/``, the instructor edition beside the sources.
    """
    folder = folder or (NOTEBOOKS if edition == "instructor" else STUDENT)
    return [f"{folder.relative_to(ROOT).as_posix()}/{p.stem}.ipynb" for p in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))]


def _installed_extras(stamp: Path, digest: str) -> tuple[set[str], bool]:
    """(extras the stamp records, whether it is for this pyproject.toml); a stamp holding only the
    hash (written before extras were recorded) stands for the default extras."""
    words = stamp.read_text().split() if stamp.exists() else []
    if not words:
        return set(), False
    extras = set(words[1].split(",")) if len(words) > 1 else set(DEFAULT_EXTRAS)
    return extras, words[0] == digest


def ensure_environment(here: bool, extras: tuple[str, ...] = DEFAULT_EXTRAS) -> str:
    """Return the Python to use; create .venv and install the project into it when needed.

    The stamp holds the hash of pyproject.toml and the extras installed; an extra asked for later
    (``browser``, by ``test-browser``) is added, and kept when pyproject.toml changes.
    """
    if here:
        return sys.executable
    if sys.version_info < (3, 10):
        sys.exit("The course needs Python 3.10 or newer (3.11 is what we test); run this script with it.")
    py = venv_python()
    if not py.exists():
        say(f"creating the virtual environment {VENV.relative_to(ROOT)}/")
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    stamp = VENV / "course-install.stamp"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    installed, current = _installed_extras(stamp, digest)
    if current and set(extras) <= installed:
        return str(py)
    wanted = ",".join(sorted(set(extras) | installed))
    RUNS.mkdir(exist_ok=True)
    log = RUNS / "install.log"
    if current:  # the course is there; only an extra is missing
        say(f"adding the {', '.join(sorted(set(extras) - installed))} extra to .venv (log: {log.relative_to(ROOT)})")
    else:
        say(f"installing the course into .venv (3-5 minutes the first time; log: {log.relative_to(ROOT)})")
    start = time.perf_counter()
    with log.open("w") as f:
        result = subprocess.run(
            [str(py), "-m", "pip", "install", "--disable-pip-version-check", "-e", f".[{wanted}]"],
            cwd=ROOT, stdout=f, stderr=subprocess.STDOUT,
        )
    if result.returncode != 0:
        tail = [line for line in log.read_text().splitlines() if "is ignored: it is neither" not in line][-15:]
        print("\n".join(tail))
        sys.exit(f"[course] installing failed (exit {result.returncode}); the whole log is {log}.")
    stamp.write_text(f"{digest} {wanted}\n")
    say(f"installed in {time.perf_counter() - start:.0f} s")
    return str(py)


def generate_notebooks(py: str, edition: str) -> None:
    """Write the .ipynb of every notebook of ``edition`` that does not exist yet; never touch an existing one."""
    subprocess.run([py, "-m", "course_utils.tooling.notebooks", "--write-missing", edition], cwd=ROOT, check=True)


def lab_folder(extra: list[str]) -> tuple[str, list[str]]:
    """The edition ``lab`` opens (``--instructor`` or the student default) and the remaining options."""
    return ("instructor" if "--instructor" in extra else "student"), [a for a in extra if a != "--instructor"]


def cmd_lab(py: str, extra: list[str]) -> int:
    edition, extra = lab_folder(extra)
    generate_notebooks(py, edition)
    if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in extra:
        extra = [*extra, "--allow-root"]  # containers often run as root; JupyterLab refuses it otherwise
    first = lab_notebooks(edition)[0]
    say(f"starting JupyterLab at {first}, the {edition} edition (Ctrl-C to stop)")
    return subprocess.call([py, "-m", "jupyterlab", f"--ServerApp.root_dir={ROOT}", f"--LabApp.default_url=/lab/tree/{first}", *extra], cwd=ROOT)


def _count_junit(path: Path) -> tuple[int, int, int, list[str]]:
    """(passed, failed, skipped, names of every test case) from a junit XML file."""
    if not path.exists():
        return 0, 0, 0, []
    passed = failed = skipped = 0
    names = []
    for case in ET.parse(path).getroot().iter("testcase"):
        names.append(f"{case.get('file', '')} {case.get('classname', '')} {case.get('name', '')}")
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
        elif case.find("skipped") is not None:
            skipped += 1
        else:
            passed += 1
    return passed, failed, skipped, names


def cmd_test(py: str, extra: list[str]) -> int:
    """Unit tests, then every notebook through nbval at the smoke budget, in a fresh run directory."""
    run_dir = RUNS / f"test-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    run_dir.mkdir(parents=True)
    env = dict(os.environ, COURSE_BUDGET="smoke", COURSE_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               COURSE_RUN_DIR=str(run_dir), PYTHONHASHSEED="0", PYDEVD_DISABLE_FILE_VALIDATION="1")
    env.pop("MPLBACKEND", None)
    say(f"run directory: {run_dir.relative_to(ROOT)} (budget smoke, one thread per process)")

    start = time.perf_counter()
    unit_xml = run_dir / "unit.xml"
    unit_rc = subprocess.call([py, "-m", "pytest", "tests", "-q", "-p", "no:cacheprovider", f"--junitxml={unit_xml}", *extra],
                              cwd=ROOT, env=dict(env, MPLBACKEND="Agg"))
    unit_s = time.perf_counter() - start

    sources = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))
    workers = os.environ.get("COURSE_TEST_WORKERS") or str(min(2, os.cpu_count() or 1, max(1, len(sources))))
    results = {}
    # the instructor edition first: every checker must pass on its solution; then the student edition,
    # in the same run directory (it reuses the checkpoints): every exercise must say "not implemented yet"
    for edition, exercises in (("instructor", "strict"), ("student", "todo")):
        nb_dir = run_dir / edition
        subprocess.run([py, "-m", "course_utils.tooling.notebooks", "--write-missing", edition, "--out", str(nb_dir)], cwd=ROOT, env=env, check=True)
        xml = run_dir / f"notebooks-{edition}.xml"
        start = time.perf_counter()
        rc = subprocess.call(
            [py, "-m", "pytest", "--nbval-lax", "--nbval-current-env", "--nbval-cell-timeout=900", "-p", "no:cacheprovider",
             "-p", "course_utils.tooling.nbval_kernel",  # each kernel's stderr kept; one that does not come up is retried
             "-n", workers, "--dist", "loadscope", f"--junitxml={xml}", "-q", "-W", "ignore::DeprecationWarning",
             *sorted(map(str, nb_dir.glob("*.ipynb")))],
            cwd=nb_dir, env=dict(env, COURSE_EXERCISES=exercises),
        )
        results[edition] = (rc, xml, time.perf_counter() - start)

    up, uf, us, _ = _count_junit(unit_xml)
    print()
    say(f"unit tests: {up} passed, {uf} failed, {us} skipped in {unit_s:.0f} s")
    ok = unit_rc == 0 and uf == 0 and up > 0 and len(sources) > 0
    total_pass, total_fail = up, uf
    for edition, (rc, xml, seconds) in results.items():
        npass, nfail, nskip, names = _count_junit(xml)
        executed = [s.stem for s in sources if any(f"{s.stem}.ipynb" in n or f"{s.stem}::" in n or f" {s.stem} " in f" {n} " for n in names)]
        not_run = [s.stem for s in sources if s.stem not in executed]
        say(f"notebooks, {edition} edition: {len(executed)} of {len(sources)} executed ({npass} cells passed, {nfail} failed) in {seconds:.0f} s")
        if not_run:
            say(f"NOT executed ({edition}): {', '.join(not_run)}")
        ok = ok and rc == 0 and nfail == 0 and not not_run
        total_pass, total_fail = total_pass + npass, total_fail + nfail + len(not_run)
    print(f"summary: {total_pass} passed, {total_fail} failed")
    return 0 if ok else 1


def cmd_test_browser(py: str, extra: list[str]) -> int:
    """Every notebook ``make lab`` opens (the student edition, written fresh from the sources into
    ``runs/browser-notebooks/``), run and its widgets moved in headless Chromium (smoke budget);
    the work is in course_utils/tooling/browser.py."""
    folder = RUNS / "browser-notebooks"
    shutil.rmtree(folder, ignore_errors=True)
    subprocess.run([py, "-m", "course_utils.tooling.notebooks", "--write-missing", "student", "--out", str(folder)], cwd=ROOT, check=True)
    return subprocess.call([py, "-m", "course_utils.tooling.browser", *extra, "--notebooks", *lab_notebooks("student", folder)], cwd=ROOT)


def main(argv: list[str]) -> int:
    here = "--here" in argv
    argv = [a for a in argv if a != "--here"]
    command, extra = (argv[0], argv[1:]) if argv else ("help", [])
    if command not in {"lab", "test", "bench", "notebooks", "format", "prepare", "site", "test-browser"}:
        print(__doc__)
        return 0 if command in {"help", "-h", "--help"} else 2
    extras = {"test-browser": (*DEFAULT_EXTRAS, "browser"), "site": (*DEFAULT_EXTRAS, "site")}.get(command, DEFAULT_EXTRAS)
    py = ensure_environment(here, extras)
    if command == "lab":
        return cmd_lab(py, extra)
    if command == "test":
        return cmd_test(py, extra)
    if command == "test-browser":
        return cmd_test_browser(py, extra)
    if command == "bench":
        return subprocess.call([py, "-m", "course_utils.tooling.bench", *extra], cwd=ROOT)
    if command == "prepare":
        return subprocess.call([py, "-m", "course_utils.tooling.prepare", *extra], cwd=ROOT)
    if command == "site":
        return subprocess.call([py, "-m", "course_utils.tooling.site", *extra], cwd=ROOT)
    if command == "format":
        return subprocess.call([py, "-m", "course_utils.tooling.notebooks", "--fix", *extra], cwd=ROOT)
    generate_notebooks(py, lab_folder(extra)[0])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
