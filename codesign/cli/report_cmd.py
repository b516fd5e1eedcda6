"""`codesign report RUN_DIR`: re-render the report of a plan, search or sweep run."""
from __future__ import annotations

from codesign.cli.common import add_run_folder_arg


def register(sub) -> None:
    p = sub.add_parser("report", help="re-render the report of a run directory",
                       description="Re-render report.html, report.md, plan.json, layers.csv and "
                                   "the figures from RUN_DIR/report-data.json (written by "
                                   "`codesign search`, `codesign plan --report` or `codesign sweep --report`).")
    p.add_argument("run_dir", metavar="RUN_DIR",
                   help="a directory written by --report (plan, sweep) or by `codesign search --out`")
    add_run_folder_arg(p, "write the report here instead of RUN_DIR")
    p.set_defaults(func=run)


def run(args) -> int:
    from codesign.cli.common import check_outputs
    from codesign.report import rerender
    from codesign.report.renderer import REPORT_NAMES
    check_outputs(args, folders={"out": REPORT_NAMES})
    paths = rerender(args.run_dir, args.out)
    print(f"report: {paths['report.html']}")
    return 0
