"""The spaCy project workflow (project.yml): valid for weasel, every step a defined command, every
command one the CLIs accept, in step with the Makefile, and runnable with `weasel run`."""

from __future__ import annotations

import copy
import os
import re
import shlex
import shutil
import subprocess
import sys
from importlib.metadata import distribution
from pathlib import Path

import pytest
import srsly
import typer
from weasel.schemas import ProjectConfigSchema, validate
from weasel.util import load_project_config

from pipeline.cli import app as knbc_app
from pipeline.report import registry

ROOT = Path(__file__).resolve().parents[1]
PROJECT = ROOT / "project.yml"
MAKEFILE = ROOT / "Makefile"
# the steps that (re)train or re-evaluate: the quick workflow must leave them out
TRAINING = {"train-classifiers", "train-generators", "assemble", "evaluate", "evaluate-posts", "evaluate-taggers",
            "benchmark"}
# commands of project.yml that the Makefile does not run (`make test` checks the splits instead)
PROJECT_ONLY = {"knbc corpus splits --check"}
# the Makefile targets whose commands project.yml runs; of `demo`, only the corpus commands
MAKE_TARGETS = ("models", "pretrain", "evaluate-lm", "evaluate", "evaluate-generation", "evaluate-splitter",
                "evaluate-posts", "evaluate-taggers", "benchmark", "report")


def _env() -> dict:
    """This environment's executables (knbc) first on PATH, one thread per process."""
    bindir = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": bindir + os.pathsep + os.environ.get("PATH", ""), "OMP_NUM_THREADS": "1"}


def _weasel(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "weasel", "run", *args],
        cwd=cwd, env=_env(), capture_output=True, text=True, timeout=120,
    )


@pytest.fixture(scope="module")
def raw() -> dict:
    return srsly.read_yaml(PROJECT)


@pytest.fixture
def project_dir(tmp_path) -> Path:
    """A copy of the project: project.yml, with the corpus, models and reports linked from the repo
    (so that weasel's folders, lock file and outputs stay out of the checkout)."""
    shutil.copy(PROJECT, tmp_path / "project.yml")
    for name in ("corpora", "models", "reports"):
        (tmp_path / name).symlink_to(ROOT / name, target_is_directory=True)
    return tmp_path


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> dict:
    """project.yml as weasel loads it: validated, workflows checked, variables substituted."""
    tmp = tmp_path_factory.mktemp("project")
    shutil.copy(PROJECT, tmp / "project.yml")
    return load_project_config(tmp)


@pytest.fixture(scope="module")
def commands(config) -> dict:
    return {cmd["name"]: cmd for cmd in config["commands"]}


def _script_lines(commands: dict, prefix: str) -> list[str]:
    return [line for cmd in commands.values() for line in cmd["script"] if line.split()[0] == prefix]


# -- the schema and the workflows ------------------------------------------------------------------


def test_project_yml_validates_against_weasels_schema(raw):
    assert validate(ProjectConfigSchema, raw) == []
    broken = copy.deepcopy(raw)
    broken["commands"][0]["scripts"] = broken["commands"][0].pop("script")  # a misspelt key is caught
    assert validate(ProjectConfigSchema, broken)


def test_weasel_loads_it_and_substitutes_every_variable(config, raw):
    assert config["title"] and raw["vars"]["version"]
    for cmd in config["commands"]:
        assert cmd.get("help"), f"{cmd['name']} has no help"
        assert cmd["script"], f"{cmd['name']} runs nothing"
        for text in [*cmd["script"], *cmd.get("deps", []), *cmd.get("outputs", [])]:
            assert "${" not in text, text


def test_weasel_rejects_a_workflow_step_that_is_no_command(tmp_path, raw):
    broken = copy.deepcopy(raw)
    broken["workflows"]["check"].append("no-such-command")
    srsly.write_yaml(tmp_path / "project.yml", broken)
    with pytest.raises(SystemExit):
        load_project_config(tmp_path)


def test_every_workflow_step_is_a_defined_command(config, commands):
    assert len(commands) == len(config["commands"]), "command names repeat"
    assert {"all", "check"} <= set(config["workflows"])
    for name, steps in config["workflows"].items():
        assert steps, name
        for step in steps:
            assert step in commands, f"workflow {name}: {step} is not a command"
    assert set(config["workflows"]["all"]) == set(commands), "`all` must run every command"


def test_the_quick_workflow_trains_nothing_and_overwrites_no_model(config, commands):
    check = config["workflows"]["check"]
    assert not TRAINING & set(check)
    for step in check:
        for out in commands[step].get("outputs", []):
            assert not out.startswith("models/"), f"{step} would overwrite {out}"


@pytest.mark.parametrize("workflow", ["all", "check"])
def test_each_dependency_ships_with_the_repo_or_comes_from_an_earlier_step(config, commands, workflow):
    made: set[str] = set()
    for step in config["workflows"][workflow]:
        for dep in commands[step].get("deps", []):
            assert (ROOT / dep).exists() or dep in made, f"{workflow}: {step} needs {dep}, which nothing makes"
        made.update(commands[step].get("outputs", []))


# -- every command is one the CLIs accept ------------------------------------------------------------


class UnknownCommand(LookupError):
    pass


def _parse(app: typer.Typer, prog: str, argv: list[str]):
    """Parse ``argv`` as the CLI would (subcommands, options, types, required arguments) without running
    it; return the click context. (Typer ships its own copy of click, so no click class is named here.)"""
    command = typer.main.get_command(app)
    args = list(argv)
    while hasattr(command, "commands"):  # a group: the next word names a subcommand
        if not args or args[0] not in command.commands:
            raise UnknownCommand(f"{prog}: no subcommand {args[:1]} in {sorted(command.commands)}")
        prog, command = f"{prog} {args[0]}", command.commands[args.pop(0)]
    return command.make_context(prog, args)


def _usage_error(app: typer.Typer, prog: str, argv: list[str]) -> str:
    with pytest.raises(Exception) as info:
        _parse(app, prog, argv)
    assert getattr(info.value, "exit_code", None) == 2, repr(info.value)  # click's UsageError
    return info.value.format_message()


def test_the_parser_catches_unknown_subcommands_and_options():
    with pytest.raises(UnknownCommand):
        _parse(knbc_app, "knbc", ["corpus", "statistics"])
    assert "--no-such-option" in _usage_error(knbc_app, "knbc", ["corpus", "stats", "--no-such-option"])
    assert "--out" in _usage_error(knbc_app, "knbc", ["train", "models/configs/theme.cfg"])  # --out is required
    assert "--runs" in _usage_error(knbc_app, "knbc", ["evaluate", "--runs", "two"])  # not an integer


def test_every_knbc_command_parses(commands, monkeypatch):
    monkeypatch.chdir(ROOT)  # paths in the scripts are relative to the project folder
    lines = _script_lines(commands, "knbc")
    assert len(lines) >= 20
    for line in lines:
        _parse(knbc_app, "knbc", shlex.split(line)[1:])


def test_the_package_command_parses_and_names_the_wheel_it_builds(commands, config, project_dir, monkeypatch):
    from spacy.cli._util import app as spacy_app

    package = commands["package"]
    spacy_lines = [line for line in package["script"] if line.startswith("python -m spacy ")]
    assert len(spacy_lines) == 1
    (project_dir / "packages").mkdir()
    monkeypatch.chdir(project_dir)  # spacy package wants its input and output folders to exist
    ctx = _parse(spacy_app, "spacy", shlex.split(spacy_lines[0])[3:])
    assert ctx.info_name == "spacy package"
    name, version = ctx.params["name"], ctx.params["version"]
    assert (name, version) == (config["vars"]["package_name"], config["vars"]["version"])
    assert ctx.params["input_dir"] == Path("models/knbc")
    assert package["outputs"] == [f"packages/ja_{name}-{version}/dist/ja_{name}-{version}-py3-none-any.whl"]


def test_the_package_requires_the_distribution_that_registers_its_components():
    """spacy package puts meta.json's requirements into the package's; spacy.load finds our factories
    only through knbc-pipeline's entry points, so that is the requirement it must name."""
    from spacy.cli.package import get_third_party_dependencies
    from spacy.util import load_config, split_requirement

    model = ROOT / "models" / "knbc"
    config = load_config(model / "config.cfg")
    # what spacy package's get_meta does, without loading the weights: meta.json's requirements, then
    # the distributions of the registered functions the config names that meta.json leaves out
    requirements = list(srsly.read_json(model / "meta.json")["requirements"])
    names = [split_requirement(req)[0] for req in requirements]
    requirements += get_third_party_dependencies(config, exclude=names)
    names = [split_requirement(req)[0] for req in requirements]
    assert names.count("knbc-pipeline") == 1, requirements
    # a model loads only with the knbc-pipeline minor version that saved it (pipeline.loading.check_model_dir)
    assert "knbc-pipeline>=0.1.0,<0.2" in requirements, requirements
    factories = {ep.name for ep in distribution("knbc-pipeline").entry_points if ep.group == "spacy_factories"}
    used = {component["factory"] for component in config["components"].values()}
    assert used == {"knbc_vectors", "knbc_sentences", "knbc_textcat", "knbc_post_classifier", "knbc_tagger",
                    "knbc_generator"}
    assert used <= factories


# -- in step with the Makefile -----------------------------------------------------------------------


LOOP = re.compile(r"^for (\w+) in ([^;]+); do (.*); done$")


def _expand(line: str) -> list[str]:
    """A recipe line with its shell for-loops unrolled (``$$var`` replaced by each value)."""
    match = LOOP.match(line.strip())
    if not match:
        return [re.sub(r"\s*\|\|\s*exit 1$", "", line.strip())]
    var, values, body = match.groups()
    return [out for value in values.split() for out in _expand(body.replace(f"$${var}", value))]


def _make_recipes() -> dict[str, list[str]]:
    text = MAKEFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    variables = dict(re.findall(r"^(\w+)\s*\?=\s*(\S+)", text, flags=re.M))
    recipes: dict[str, list[str]] = {}
    target = None
    for line in text.splitlines():
        if match := re.match(r"^([\w.-]+):", line):
            target = match.group(1)
            recipes[target] = []
        elif line.startswith("\t") and target and not line.strip().startswith("#"):
            line = re.sub(r"\s+", " ", line.replace("$(KNBC)", "knbc").replace("$(OUT)", variables["OUT"]).replace("$(CHECKPOINTS)", variables["CHECKPOINTS"]))
            recipes[target].extend(_expand(line))
    return recipes


def test_the_makefile_recipes_are_read():
    recipes = _make_recipes()
    evaluate = [line for line in recipes["evaluate"] if line.startswith("knbc ")]
    assert "knbc evaluate --task sentiment --protocol peer --out reports/sentiment-peer" in evaluate
    assert len(evaluate) == 4


def test_project_yml_runs_the_makefiles_commands(commands):
    recipes = _make_recipes()
    make = [line for target in MAKE_TARGETS for line in recipes[target] if line.startswith("knbc ")]
    make += [line for line in recipes["demo"] if line.startswith("knbc corpus ")]
    project = [line for line in _script_lines(commands, "knbc") if line not in PROJECT_ONLY]
    assert sorted(project) == sorted(make)


def test_every_registry_command_is_in_the_makefile_and_project_yml(commands):
    """The report names these commands for what is missing, so each must be one the project runs."""
    steps = {name: cmd["script"] for name, cmd in commands.items()}
    recipes = _make_recipes()
    for artefact in registry.ARTEFACTS:
        command = artefact.make_command()
        assert command in recipes[artefact.make_target], f"{command}: not in `make {artefact.make_target}`"
        assert command in steps[artefact.project_step], f"{command}: not in project.yml step {artefact.project_step}"
        assert str(artefact.location()) in command, command
    # and every output of an evaluation or a benchmark in either is in the registry
    registered = {artefact.location().as_posix() for artefact in registry.ARTEFACTS}
    lines = [line for script in steps.values() for line in script]
    lines += [line for recipe in recipes.values() for line in recipe]
    outputs = [shlex.split(line) for line in lines
               if line.startswith(("knbc evaluate", "knbc benchmark", "knbc train"))]
    assert len(outputs) >= 2 * 14
    for words in outputs:
        out = words[words.index("--out") + 1]
        assert out in registered, f"{' '.join(words)}: its output {out} is not in pipeline/report/registry.py"


# -- weasel runs it ----------------------------------------------------------------------------------


def test_a_dry_run_of_all_shows_every_command_in_order(project_dir, config, commands):
    result = _weasel("all", str(project_dir), "--dry", cwd=project_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    shown = [line.removeprefix("Running command: ") for line in result.stdout.splitlines()
             if line.startswith("Running command: ")]
    expected = [line for step in config["workflows"]["all"] for line in commands[step]["script"]]
    assert len(shown) == len(expected)
    for got, want in zip(shown, expected):
        if want.startswith("python "):  # weasel runs its own interpreter for `python`
            want = want.replace("python", sys.executable, 1)
        assert shlex.split(got) == shlex.split(want)
    assert not (project_dir / "project.lock").exists()


def test_weasel_runs_the_corpus_check(project_dir):
    result = _weasel("corpus", cwd=project_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "京都観光" in result.stdout and "agree with the corpus README" in result.stdout  # knbc corpus stats
    assert "match the derived ones" in result.stdout  # knbc corpus splits --check
    lock = srsly.read_yaml(project_dir / "project.lock")
    assert [dep["path"] for dep in lock["corpus"]["deps"]] == ["corpora/knbc/knbc-v1.0.tar.xz", "corpora/knbc/splits"]
    assert all(dep["md5"] for dep in lock["corpus"]["deps"])


def test_weasel_stops_on_a_missing_dependency(project_dir):
    (project_dir / "corpora").unlink()
    (project_dir / "corpora" / "knbc").mkdir(parents=True)  # the splits and the archive are missing
    result = _weasel("corpus", cwd=project_dir)
    assert result.returncode != 0
    assert "Missing dependency" in result.stdout + result.stderr
