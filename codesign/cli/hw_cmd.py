"""`codesign hw [PRESET]`: the keys of a hardware preset with their values, ranges and sources."""
from __future__ import annotations

import json

from codesign.cli.common import format_table


def register(sub) -> None:
    p = sub.add_parser("hw", help="show a hardware preset: keys, values, ranges, sources",
                       description="Print every key of a hardware preset (or TOML file) by "
                                   "section, with its value, uncertainty range and source; "
                                   "--keys lists every key the model knows with its bounds.")
    p.add_argument("preset", nargs="?", default=None, metavar="PRESET|FILE.toml",
                   help="preset name or TOML file (default: the default preset); GPU targets: a100, h100, l4")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                   help="change one key before showing it (repeatable)")
    p.add_argument("--keys", action="store_true", help="list all keys with their bounds and meaning")
    p.add_argument("--sources", action="store_true", help="list the citation table")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from codesign.specs import hardware
    from hwmodels.gpu.spec import GPU_KEYS, GpuSpec
    from hwmodels.presets import DEFAULT_PRESET, sources
    from hwmodels.spec import KEYS
    if args.sources:
        table = sources()
        if args.json:
            print(json.dumps(table, indent=1))
        else:
            for sid, entry in table.items():
                print(f"[{sid}] {entry['cite']}\n    {entry['where']} (verified: {entry['verified']})")
        return 0
    if args.keys:
        rows = [[k.name, k.section, k.describe(), "/".join(k.modes) or "all", k.doc] for k in KEYS.values()]
        rows += [[k.name, k.section, k.describe(), "gpu", k.doc] for k in GPU_KEYS.values()]
        if args.json:
            print(json.dumps([dict(zip(["key", "section", "values", "modes", "meaning"], r)) for r in rows], indent=1))
        else:
            print(format_table(["key", "section", "values", "modes", "meaning"], rows, right=set()))
        return 0
    spec = hardware(args.preset or DEFAULT_PRESET, args.overrides)
    if args.json:
        print(json.dumps({**spec.to_dict(), "ranges": {k: list(v) for k, v in spec.ranges.items()},
                          "sources": dict(spec.sources)}, indent=1))
        return 0
    table = GPU_KEYS if isinstance(spec, GpuSpec) else KEYS
    print(f"{spec.name}: {spec.description} "
          + ("(GPU target)" if isinstance(spec, GpuSpec) else f"(mode {spec.mode})"))
    rows = []
    for name in spec.used_keys():
        lo_hi = spec.ranges.get(name)
        rows.append([name, table[name].section, str(getattr(spec, name)),
                     "" if lo_hi is None else f"{lo_hi[0]:g} .. {lo_hi[1]:g}", spec.sources.get(name, "")])
    print(format_table(["key", "section", "value", "range", "source"], rows, right=set()))
    print("sources: `codesign hw --sources`")
    return 0
