"""`zero-rl report RUN_DIR` and `zero-rl report --compare RUN_A RUN_B`: the training report (zero_rl/run_report.py)."""

import argparse


def report_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zero-rl report",
        description="Write RUN_DIR/report.html (self-contained; its plots also as PNGs in RUN_DIR/report_plots): "
                    "reward and its components, accuracy, format rate, completion length, entropy, KL, clip "
                    "fraction, grad norm, zero-std share, generator/trainer mismatch, time per step by phase, "
                    "tokens/s, held-out greedy and sampled pass@k, and sampled completions at the first, middle and "
                    "last steps. `zero-rl train` writes it at the end of every run.")
    parser.add_argument("run_dirs", nargs="*", metavar="RUN_DIR", help="run folder(s) (a run.output_dir)")
    parser.add_argument("--compare", nargs="+", metavar="RUN_DIR",
                        help="runs to draw on shared axes in one report (default folder: the first run's compare/)")
    parser.add_argument("--out", help="folder for the comparison report (with --compare)")
    parser.add_argument("--screenshot", metavar="PNG",
                        help="also save a PNG of the page as headless Chromium renders it (needs chromium)")
    parser.add_argument("--screenshot-size", default="1320x2200", metavar="WxH",
                        help="browser window for --screenshot, in pixels (default 1320x2200: the top of the page)")
    return parser


def report_main(argv: list) -> int:
    import sys

    from zero_rl.run_report import compare_runs, report_run, screenshot

    parser = report_parser()
    args = parser.parse_args(argv)
    if not args.run_dirs and not args.compare:
        parser.error("give a RUN_DIR, or --compare RUN_A RUN_B")
    try:
        paths = [report_run(directory) for directory in args.run_dirs]
        if args.compare:
            paths.append(compare_runs(args.compare, args.out))
        if args.screenshot:
            width, _, height = args.screenshot_size.partition("x")
            if not (width.isdigit() and height.isdigit()):
                raise ValueError(f"--screenshot-size {args.screenshot_size!r}: write WIDTHxHEIGHT, e.g. 1320x1180")
            screenshot(paths[-1], args.screenshot, int(width), int(height))
    except (FileNotFoundError, ValueError) as error:
        print(f"zero-rl report: {error}", file=sys.stderr)
        return 2
    for path in paths:
        print(f"report: {path}")
    return 0
