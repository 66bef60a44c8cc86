"""``devops-tasks``: list the tasks, invoke one locally against whatever AWS the environment points at, demo."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from cli import registry
from cli.local import Outcome, invoke, is_manual_payload, quiet_logs, use_endpoint
from cli.plan import human_size, plan_json, print_accounts, print_counts, print_plan


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="devops-tasks", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("list", help="the tasks, their functions and triggers (from serverless.yml)")

    inv = sub.add_parser("invoke", help="run a task's real handler here, against the AWS the environment names")
    inv.add_argument("task", help="task name (e.g. snapshot-rotation) or function name")
    inv.add_argument("--event", help="event JSON file, or - for stdin (default: the schedule's input)")
    inv.add_argument("--dry-run", action="store_true", help="plan only: no mutating call")
    inv.add_argument("--region", action="append", dest="regions", metavar="REGION", help="repeatable")
    inv.add_argument("--timeout", type=float, default=900.0, help="seconds, as the Lambda timeout (default 900)")
    inv.add_argument("--out", type=Path, help="also write the response (and any local renderings) here")
    inv.add_argument("--json", action="store_true", help="print the response, its totals and plan as JSON only")
    inv.add_argument("--all", action="store_true", dest="show_all", help="show every row of the plan, not 10 a group")
    inv.add_argument(
        "--endpoint-url",
        metavar="URL",
        help="an AWS-compatible endpoint (as AWS_ENDPOINT_URL); without credentials or region, dummy ones are used",
    )
    inv.add_argument("--verbose", action="store_true", help="show the structured logs (on stderr)")
    inv.add_argument(
        "--open",
        action="store_true",
        help="tasks with local renderings (resource-audit): write them under --out (default out/) and open the HTML",
    )

    val = sub.add_parser(
        "validate",
        help="check configuration files (default: config/*.yml and the project's defaults) with the handlers' models",
    )
    val.add_argument("files", nargs="*", type=Path, metavar="FILE", help="configuration files, e.g. config/prod.yml")

    sch = sub.add_parser("schema", help="the JSON Schema of a task's input (from its pydantic model)")
    sch.add_argument("task", nargs="?", help="task name; without it, the schema of the configuration file")
    sch.add_argument("--write", type=Path, metavar="DIR", help="write every schema file there (make schema)")

    member = sub.add_parser(
        "member-role", help="the member role's CloudFormation template (deploy/member-role.yml), from the code"
    )
    member.add_argument("--write", type=Path, metavar="FILE", help="write it there (make member-role)")

    demo = sub.add_parser("demo", help="every task against an embedded AWS (moto server on 127.0.0.1)")
    demo.add_argument("--out", type=Path, default=Path("out"), help="where reports go (default out/)")
    demo.add_argument("--only", action="append", help="run only these demo parts (repeatable)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    console = Console(stderr=bool(getattr(args, "json", False)))
    if args.command == "list":
        return cmd_list(console)
    if args.command == "invoke":
        return cmd_invoke(args, console)
    if args.command == "validate":
        return cmd_validate(args.files, console)
    if args.command == "schema":
        return cmd_schema(args.task, args.write, console)
    if args.command == "member-role":
        return cmd_member_role(args.write, console)
    from cli.demo import run_demo

    return run_demo(args.out, console, only=args.only)


def cmd_list(console: Console) -> int:
    table = Table(title="devops-tasks")
    for col in ("task", "function", "triggers", "description"):
        table.add_column(col)
    for info in registry.functions():
        table.add_row(info.task_name, info.key, "\n".join(info.triggers()), info.description)
    console.print(table)
    return 0


def cmd_validate(files: list[Path], console: Console) -> int:
    """Every problem of every file, one line each (file:line: field: what is wrong); exit 1 if there is one."""
    from cli import config

    checkers = [config.check_file(f) for f in files]
    if not files:
        checkers = [config.check_defaults()] + [
            config.check_file(f) for f in sorted((registry.ROOT / "config").glob("*.yml"))
        ]
    problems = [p for c in checkers for p in sorted(c.problems, key=lambda p: p.line or 0)]
    for problem in problems:
        console.print(str(problem), markup=False, highlight=False, soft_wrap=True)
    if problems:
        console.print(f"[red]{len(problems)} problem(s)[/red]")
        return 1
    for checker in checkers:
        names = ", ".join(f"{p.task}/{p.name}" for p in checker.policies) or "no policies (the defaults apply)"
        console.print(f"{checker.file}: ok: {names}", markup=False, highlight=False, soft_wrap=True)
    return 0


def cmd_schema(task: str | None, write: Path | None, console: Console) -> int:
    from cli import schema

    if write is not None:
        for path in schema.write(write):
            console.print(f"wrote {path}", markup=False, highlight=False)
        return 0
    if task is None:
        print(schema.render(schema.config_schema(registry.functions())), end="")
        return 0
    try:
        info = registry.find(task)
    except KeyError as exc:
        console.print(f"[red]{exc.args[0]}[/red]")
        return 2
    if info.policies is None:
        console.print(f"[red]{info.task_name} is not run on a schedule: it has no policy input[/red]")
        return 2
    print(schema.render(schema.input_schema(info)), end="")
    return 0


def cmd_member_role(write: Path | None, console: Console) -> int:
    from cli import member_role

    if write is None:
        print(member_role.render(member_role.template()), end="")
        return 0
    console.print(f"wrote {member_role.write(write)}", markup=False, highlight=False)
    return 0


class EventFileError(ValueError):
    """The event given to ``invoke`` cannot be read or is not a JSON object."""


def _read_event(where: str) -> Any:
    name = "stdin" if where == "-" else where
    try:
        text = sys.stdin.read() if where == "-" else Path(where).read_text()
    except OSError as exc:
        raise EventFileError(f"cannot read the event file {name}: {exc.strerror or exc}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise EventFileError(f"the event in {name} is not valid JSON: {exc}") from exc


def _event(args: argparse.Namespace, info: registry.FunctionInfo) -> dict[str, Any]:
    event = _read_event(args.event) if args.event else (info.schedule_input() or {})
    if not isinstance(event, dict):
        raise EventFileError("the event must be a JSON object")
    if args.dry_run:
        os.environ["DEVOPS_TASKS_DRY_RUN"] = "true"
    if args.regions:
        os.environ["DEVOPS_TASKS_REGIONS"] = json.dumps(args.regions)
    # The flags win over the event: a payload overrides the DEVOPS_TASKS_* defaults set above, so set them in it too
    # (S3/SQS notifications carry no such fields: the defaults reach those handlers).
    flags = ({"dry_run": True} if args.dry_run else {}) | ({"regions": args.regions} if args.regions else {})
    if is_manual_payload(event):
        event |= flags
    elif "detail-type" in event and isinstance(event.get("detail"), dict):
        event["detail"] = event["detail"] | flags
    if getattr(args, "open", False):
        model = info.task_module().TASK.params_model
        if "local_dir" in model.model_fields:  # a CLI-only field: through the environment, never the event
            os.environ["DEVOPS_TASKS_LOCAL_DIR"] = str((args.out or Path("out")) / info.task_name)
    return event


def cmd_invoke(args: argparse.Namespace, console: Console) -> int:
    quiet_logs("INFO" if args.verbose else ("ERROR" if args.json else "WARNING"))
    try:
        info = registry.find(args.task)
    except KeyError as exc:
        console.print(f"[red]{exc.args[0]}[/red]")
        return 2
    try:
        event = _event(args, info)
    except EventFileError as exc:
        console.print(f"[red]{exc}[/red]")
        return 2
    for note in use_endpoint(args.endpoint_url):
        console.print(note, markup=False, highlight=False, soft_wrap=True)
    with ProgressBar(console, enabled=not args.json, title=f"running {info.task_name}"):
        outcome = invoke(info, event, timeout_s=args.timeout)
    if args.out and outcome.response is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / f"{info.task_name}.json").write_text(json.dumps(outcome.response, indent=2, default=str))
        render = getattr(info.task_module(), "render_local", None)
        if callable(render):
            for path in render(outcome.response, args.out):
                console.print(f"wrote {path}")
    if args.json:
        print(json.dumps(json_of(outcome), default=str))
    else:
        print_outcome(console, info.task_name, outcome, show_all=args.show_all)
    local_html = ((outcome.response or {}).get("links") or {}).get("local html")
    if args.open and local_html:
        open_file(console, Path(local_html))
    return 0 if outcome.ok else 1


def json_of(outcome: Outcome) -> dict[str, Any]:
    """``--json``: the handler's response, with the run's totals and its plan (every action, grouped) at the top."""
    if outcome.response is None:
        return {"error": outcome.error, "kind": outcome.kind}
    resp = dict(outcome.response)
    if "units" in resp:
        resp.setdefault("totals", totals_of(resp))
        resp["plan"] = plan_json(resp)
    return resp


def totals_of(resp: dict[str, Any]) -> dict[str, int]:
    total: dict[str, int] = {}
    for unit in resp.get("units") or []:
        for key, n in (unit.get("counts") or {}).items():
            total[key] = total.get(key, 0) + int(n)
    return dict(sorted(total.items()))


def open_file(console: Console, path: Path) -> None:
    """Open a local rendering in a browser; where none can open it, say where the file is."""
    import webbrowser

    where = path.resolve()
    if webbrowser.open(where.as_uri()):
        console.print(f"opened {where}", markup=False, highlight=False, soft_wrap=True)
    else:
        console.print(f"no browser could open it here: open {where}", markup=False, highlight=False, soft_wrap=True)


class ProgressBar:
    """A spinner from the start (something moves even before the first progress event), then shared.progress
    events as rich progress bars while a handler runs."""

    def __init__(self, console: Console, *, enabled: bool, title: str = "running") -> None:
        self.enabled = enabled and console.is_terminal
        self.title = title
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.bars: dict[str, Any] = {}

    def _on(self, what: str, n: int, total: int | None) -> None:
        bar = self.bars.get(what)
        if bar is None:
            bar = self.bars[what] = self.progress.add_task(what, total=0 if total is not None and total < 0 else total)
        if total is not None and total < 0:
            current = self.progress.tasks[bar].total or 0
            self.progress.update(bar, total=current - total)
        elif total is not None:
            self.progress.update(bar, total=total)
        self.progress.advance(bar, n)

    def __enter__(self) -> ProgressBar:
        if self.enabled:
            from shared import progress

            progress.listen(self._on)
            self.progress.add_task(self.title, total=None)
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            from shared import progress

            progress.listen(None)
            self.progress.stop()


def print_outcome(console: Console, task: str, outcome: Outcome, *, show_all: bool = False) -> None:
    """A readable summary: the plan (or what was done), counts per unit, failures, where the report is."""
    if outcome.response is None:
        console.print(f"[red]{task}: {outcome.kind}: {outcome.error}[/red]")
        return
    resp = outcome.response
    units = resp.get("units") or []
    status = resp.get("status", "ok" if outcome.ok else "failed")
    title = f"{task} ({status}{', dry run' if resp.get('dry_run') else ''})"
    print_plan(console, resp, show_all=show_all)
    if units:
        print_counts(console, title, units)
        print_accounts(console, title, units)
    elif "units" in resp:
        console.print(f"{title}: nothing to do in any unit", markup=False, highlight=False)
    else:
        # a response that is not a run report (the upload logger's): print it rather than nothing
        console.print(f"{task} ({'ok' if outcome.ok else 'failed'})", markup=False, highlight=False)
        for key, value in resp.items():
            shown = human_size(value) if key in {"bytes", "size"} and isinstance(value, int) else json.dumps(value)
            console.print(f"  {key}: {shown}", markup=False, highlight=False, soft_wrap=True)
    failures = [f for u in units for f in (u.get("failures") or [])] or resp.get("failures") or []
    for failure in failures[:20]:
        if isinstance(failure, dict):
            console.print(
                f"[red]failed[/red] {failure.get('operation')} {failure.get('resource') or ''}: "
                f"{failure.get('error_code')} {failure.get('message')}"
            )
    for note in resp.get("notes") or []:
        console.print(note)
    if resp.get("location"):
        console.print(f"report: {resp['location']}")
    for name, where in (resp.get("links") or {}).items():
        console.print(f"{name}: {where}")
    if not outcome.ok:
        console.print(f"[red]{outcome.error}[/red]")


if __name__ == "__main__":
    raise SystemExit(main())
