from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import pytest

from generator.cli import main, make_parser
from tests.conftest import REPO, UNSIGNED


def _subcommands() -> dict[str, str]:
    parser = make_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    assert isinstance(action, argparse._SubParsersAction)
    return {name: sub.format_help() for name, sub in action.choices.items()}


def test_readme_documents_every_command_and_option() -> None:
    readme = (REPO / "README.md").read_text()
    missing = []
    for name, text in _subcommands().items():
        if f"pith-mirror {name}" not in readme:
            missing.append(f"command {name}")
        for opt in sorted(set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]+)", text))):
            if opt not in readme and opt != "--help":
                missing.append(f"{name} {opt}")
    assert not missing, f"README.md does not document: {missing}"


def test_every_option_has_help_text() -> None:
    for name, text in _subcommands().items():
        assert "usage: pith-mirror " + name in text
    parser = make_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert isinstance(sub, argparse._SubParsersAction)
    for name, subparser in sub.choices.items():
        for action in subparser._actions:
            assert action.help, f"{name}: {action.dest} has no help text"


def test_help_names_a_configuration_file_only_where_one_is_read() -> None:
    """build, verify and fetch read pith-mirror.toml (``-c``); the other commands do not, and
    their help does not say they do."""
    for name, text in _subcommands().items():
        if name == "bench":
            continue
        reads_config = "--config" in text
        assert ("pith-mirror.toml" in text) == reads_config, name
        assert reads_config == (name in {"build", "verify", "fetch"}), name


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["build", "-o", "{tmp}/s"], "interrupted; the previous site is untouched"),
        (["verify", str(UNSIGNED)], "interrupted"),
        (["check-pages", "{tmp}"], "interrupted"),
    ],
)
def test_interrupt_message_fits_the_command(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    argv: list[str],
    said: str,
) -> None:
    """Ctrl-C exits 130; only a build speaks of the previous site (nothing else touches one)."""
    import generator.cli as cli

    def interrupted(*_args: object, **_kw: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "run_build", interrupted)
    monkeypatch.setattr(cli, "_site_tool", interrupted)
    capsys.readouterr()
    assert main([a.replace("{tmp}", str(tmp_path)) for a in argv]) == 130
    assert capsys.readouterr().err.strip().splitlines() == [said]


def test_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["build", "-q", "-o", str(tmp_path / "s")]) == 0
    assert main(["verify", str(UNSIGNED), "-q"]) == 1
    err = capsys.readouterr().err
    assert err.count("no_receipt") == 3
    assert main(["build", "--no-such-flag"]) == 2
    assert main(["build", "--base-url", "javascript:alert(1)", "-o", str(tmp_path / "s")]) == 2
    assert main(["build", str(tmp_path / "missing"), "-o", str(tmp_path / "s2")]) == 1


def test_bad_config_reports_every_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "pith-mirror.toml"
    cfg.write_text('[mirror]\ntitel = "x"\njobs = "two"\nbase_url = "ftp://x"\nlink_style = "fancy"\n')
    assert main(["build", "-c", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "titel" in err and "jobs" in err
    cfg.write_text('[mirror]\nbase_url = "ftp://x"\nlink_style = "fancy"\npage_size = 0\n')
    assert main(["build", "-c", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "3 problem(s)" in err


def test_config_file_sets_defaults_and_flags_override(tmp_path: Path) -> None:
    cfg = tmp_path / "pith-mirror.toml"
    cfg.write_text('[mirror]\noutput = "public"\ntitle = "My <Mirror>"\nlink_style = "file"\n')
    assert main(["build", "-q", "-c", str(cfg)]) == 0
    page = (tmp_path / "public/index.html").read_text()
    assert "My &lt;Mirror&gt;" in page
    assert "pith/75T7H6BVKLX2X7KPYCGRY4USAC/index.html" in page
    assert (
        main(["build", "-q", "-c", str(cfg), "-o", str(tmp_path / "other"), "--link-style", "directory"]) == 0
    )
    assert 'href="pith/75T7H6BVKLX2X7KPYCGRY4USAC/"' in (tmp_path / "other/index.html").read_text()


def test_python_dash_m_and_summary_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "generator", "build", "-o", str(tmp_path / "s")],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "3 record(s) published, 0 skipped" in proc.stderr
    assert re.search(r"verify\+render: 3 record\(s\) verified, 0 invalid, in [0-9.]+s", proc.stderr)


def test_readme_lists_every_error_code() -> None:
    from generator.errors import CODES

    readme = (REPO / "README.md").read_text()
    assert [c for c in CODES if f"| `{c}` |" not in readme] == []
