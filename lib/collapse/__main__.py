"""Command line of the companion: ``python -m collapse --help``."""

import argparse
import sys

from collapse.infra import config, reproduce


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m collapse", description=__doc__.split(":")[0] + ".")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("fetch", help="fetch the offline data (Fashion-MNIST, Shakespeare); non-zero if one is missing")
    manifest = commands.add_parser("manifest", help="write the figure manifest (figures/MANIFEST) from the registry")
    manifest.add_argument("path")
    run = commands.add_parser("run", help="run one notebook through papermill, with checked parameters")
    run.add_argument("notebook", help="e.g. 03 or 03_gmm_recursive_diffusion")
    run.add_argument("--mode", choices=config.MODES, default=config.DEFAULT_MODE)
    run.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                     help="a parameter of the notebook's parameters cell, as a Python literal (alphas='[0.2, 0.7]')")
    run.add_argument("--size", action="append", default=[], metavar="NAME=VALUE",
                     help="a size of the mode's size table, e.g. --size generations=3 (an exploration run)")
    run.add_argument("--out", help="where the executed copy goes (default: notebooks/executed/ for a canonical "
                                   "full-mode run, else build/explore/<mode>/notebooks/)")
    report = commands.add_parser("report", help="render the README's verdict table and RESULTS.md from the ledger")
    report.add_argument("--check", action="store_true", help="exit 1 if either differs from the ledger")
    commands.add_parser("site", help="build the offline HTML site under build/site/html and check its links")
    every = commands.add_parser("reproduce", help="run notebooks with default parameters, keep going, summarise")
    every.add_argument("notebooks", nargs="*", help="default: every notebook")
    every.add_argument("--mode", choices=config.MODES, default=config.DEFAULT_MODE)
    every.add_argument("--jobs", "-j", type=int, default=1, metavar="N",
                       help="notebooks run at once, sharing the cores (each gets cores // N job workers)")
    rekey = commands.add_parser("rekey", help="move committed results to today's keys after a code edit that a probe "
                                              "run shows moved no number (else name what moved)")
    rekey.add_argument("notebooks", nargs="*", help="default: every notebook with a committed result")
    probed = commands.add_parser("probe", help="record the probe fingerprint of committed results whose key is "
                                               "today's (make reproduce does it after each canonical run)")
    probed.add_argument("notebooks", nargs="*", help="default: every notebook with a committed result")
    registered = commands.add_parser("criteria", help="check the ledger's criteria against their register, or "
                                                      "register the changed ones with --register WHY")
    registered.add_argument("--register", metavar="WHY", help="why the criteria that differ were changed")
    created = commands.add_parser("new", help="write a working skeleton of a new notebook and everything it needs")
    created.add_argument("spec", metavar="NN_name", help="e.g. 08_stopping_collapse")
    planned = commands.add_parser("plan", help="print each notebook's work and expected time before a long run")
    planned.add_argument("--mode", choices=config.MODES, default=config.DEFAULT_MODE)
    args = parser.parse_args(argv)

    if args.command == "fetch":
        from collapse.models import data

        found = {"Fashion-MNIST": data.fetch_fashion_mnist(), "Shakespeare": data.fetch_shakespeare()}
        print("fetch: " + "; ".join(f"{name} {'ok' if ok else 'MISSING'}" for name, ok in found.items()))
        return 0 if all(found.values()) else 1
    if args.command == "manifest":
        from collapse.infra import figures

        with open(args.path, "w") as f:
            f.write(figures.manifest())
        return 0
    if args.command == "report":
        from collapse.infra import report as generated

        return generated.write(check=args.check)
    if args.command == "plan":
        from collapse.infra import plan

        config.set_threads(1)
        print(plan.render(*plan.plan(args.mode), args.mode))
        return 0
    if args.command == "new":
        from collapse.infra.new import new

        for path in new(args.spec):
            print(f"wrote {path.relative_to(config.ROOT)}")
        print(f"next: edit them (docs/extending.md), then make reproduce-{args.spec[:2]} and make test")
        return 0
    if args.command == "criteria":
        from collapse.infra import criteria, report

        registry = criteria.load()
        if args.register:
            criteria.write(criteria.register(report.ledger(), registry, args.register))
            return 0
        found = criteria.problems(report.ledger(), registry)
        print("\n".join(found) or "every criterion is the registered one")
        return 1 if found else 0
    if args.command in ("rekey", "probe"):
        return _probe_command(args.command, args.notebooks)
    if args.command == "site":
        from collapse.infra import site

        return site.build()
    if args.command == "reproduce":
        return reproduce.reproduce(args.notebooks, args.mode, args.jobs)
    notebook = config.notebook_path(args.notebook)
    values = reproduce.parse_assignments(args.set, "--set")
    sizes = reproduce.parse_assignments(args.size, "--size")
    parameters = reproduce.checked_parameters(notebook, values, sizes, args.mode)
    changes = {**values, **({"sizes": sizes} if sizes else {})}
    out = args.out or reproduce.executed_path(notebook, args.mode, changes)
    missing = reproduce.preflight([notebook])
    if missing:
        print("\n".join(missing), file=sys.stderr)
        return 2
    ok, seconds = reproduce.run(notebook, config.ROOT / out if not str(out).startswith("/") else out, parameters)
    print(f"{notebook.stem}: ok in {seconds:.0f} s; executed copy: {out}" if ok else
          f"{notebook.stem}: FAILED after {seconds:.0f} s (the error is above); no executed copy was written")
    return 0 if ok else 1


def _probe_command(command: str, notebooks: list[str]) -> int:
    """``rekey`` or ``probe`` each notebook's committed result, one line each; non-zero if any was refused."""
    from collapse.infra import probe

    failed = 0
    for experiment in probe.experiments_of(notebooks):
        try:
            ok, message = (probe.rekey if command == "rekey" else probe.record)(experiment)
        except probe.ProbeFailed as err:
            ok, message = False, f"{experiment}: {err}"
        print(message, flush=True)
        failed += not ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
