"""Rows across the boundary, as docs/abi.md specifies them: each row is its
fields in declared order, each field in bincode's fixed-width little-endian
form (string: u64 byte length + UTF-8; f64; i64; bool: one byte 0 or 1;
timestamp: i64 milliseconds since the Unix epoch), rows back to back."""

import dataclasses
import itertools
import struct
import typing

_U64 = struct.Struct("<Q")


class Timestamp(int):
    """Milliseconds since the Unix epoch, UTC: a field of type `timestamp`."""


# Python annotation -> the WIT field type's name.
_TYPES = {str: "string", float: "f64", int: "i64", bool: "bool", Timestamp: "timestamp"}


def fields_of(row_type):
    """The (name, type name) pairs of a dataclass row type, in order."""
    if not dataclasses.is_dataclass(row_type):
        raise TypeError(f"{row_type.__name__} must be a @dataclass whose fields are the row's")
    hints = typing.get_type_hints(row_type)
    fields = []
    for field in dataclasses.fields(row_type):
        annotation = hints[field.name]
        if annotation not in _TYPES:
            raise TypeError(
                f"{row_type.__name__}.{field.name}: {annotation!r} is not a field type; "
                "use str, float, int, bool or weir_plugin.Timestamp"
            )
        fields.append((field.name, _TYPES[annotation]))
    return fields


# The struct code of each fixed-width field type ("B" for bool: its byte
# must be checked, which "?" would not do).
_CODES = {"f64": "d", "i64": "q", "timestamp": "q", "bool": "B"}


def decoder(row_type):
    """A function (rows: bytes, count: int) -> list of row_type.

    The function is generated for the row type, as dataclasses generates
    __init__: one struct unpack per run of fixed-width fields and no
    per-field dispatch, which in CPython inside a component is most of a
    simple plugin's cost per row (docs/benchmarks.md)."""
    kinds = [kind for _, kind in fields_of(row_type)]
    names = [f"f{i}" for i in range(len(kinds))]
    env = {"row_type": row_type, "Timestamp": Timestamp, "U64": _U64.unpack_from, "itertools": itertools}
    values = []
    for name, kind in zip(names, kinds):
        if kind == "timestamp":
            values.append(f"Timestamp({name})")
        elif kind == "bool":
            values.append(f"{name} == 1")
        else:
            values.append(name)
    checks = [f"        if {n} > 1: raise ValueError(f'row {{row}}: {{{n}}} is not a bool')"
              for n, k in zip(names, kinds) if k == "bool"]
    build = f"append(row_type({', '.join(values)}))"
    if "string" not in kinds:
        env["layout"] = struct.Struct("<" + "".join(_CODES[k] for k in kinds))
        plain = all(k in ("f64", "i64") for k in kinds)
        body = [
            "def decode(rows, count):",
            "    if len(rows) != count * layout.size:",
            "        raise ValueError(f'{count} rows of {layout.size} bytes are {count * layout.size} bytes, not {len(rows)}')",
        ]
        if plain:
            body.append("    return list(itertools.starmap(row_type, layout.iter_unpack(rows)))")
        else:
            body += [
                "    out = []",
                "    append = out.append",
                f"    for row, ({', '.join(names)},) in enumerate(layout.iter_unpack(rows)):",
                *checks,
                f"        {build}",
                "    return out",
            ]
    else:
        body = [
            "def decode(rows, count):",
            "    view = memoryview(rows)",
            "    end = len(view)",
            "    at = 0",
            "    out = []",
            "    append = out.append",
            "    for row in range(count):",
        ]
        run = []

        def flush():
            if not run:
                return
            layout = struct.Struct("<" + "".join(_CODES[k] for _, k in run))
            unpack = f"unpack{run[0][0]}"
            env[unpack] = layout.unpack_from
            body.extend([
                f"        if at + {layout.size} > end: raise ValueError(f'row {{row}}: its fields run past the rows')",
                f"        {', '.join(n for n, _ in run)}, = {unpack}(view, at)",
                f"        at += {layout.size}",
            ])
            run.clear()

        for name, kind in zip(names, kinds):
            if kind != "string":
                run.append((name, kind))
                continue
            flush()
            body.extend([
                "        length, = U64(view, at)",
                "        at += 8",
                "        if at + length > end: raise ValueError(f'row {row}: a string runs past the rows')",
                f"        {name} = str(view[at:at + length], 'utf-8')",
                "        at += length",
            ])
        flush()
        body += [
            *checks,
            f"        {build}",
            "    if at != end:",
            "        raise ValueError(f'{end - at} bytes follow the {count} rows')",
            "    return out",
        ]
    exec("\n".join(body), env)  # noqa: S102 - source built above from the field types only
    return env["decode"]


def encoder(row_type):
    """A function (row, out: bytearray) appending the row's encoding,
    generated for the row type as the decoder is: one struct pack per run
    of fixed-width fields."""
    fields = fields_of(row_type)
    env = {"row_type": row_type, "U64": _U64.pack}
    body = [
        "def encode(row, out):",
        "    if type(row) is not row_type:",
        "        raise TypeError(f'expected a {row_type.__name__}, got {type(row).__name__}')",
    ]
    run = []

    def flush():
        if not run:
            return
        pack = f"pack_{run[0][0]}"
        env[pack] = struct.Struct("<" + "".join(_CODES[k] for _, k in run)).pack
        values = []
        for name, kind in run:
            if kind == "f64":
                values.append(f"float(row.{name})")
            elif kind == "bool":
                values.append(f"1 if row.{name} else 0")
            else:
                values.append(f"int(row.{name})")
        body.append(f"    out += {pack}({', '.join(values)})")
        run.clear()

    for name, kind in fields:
        if kind != "string":
            run.append((name, kind))
            continue
        flush()
        body += [
            f"    data = row.{name}.encode('utf-8')",
            "    out += U64(len(data))",
            "    out += data",
        ]
    flush()
    exec("\n".join(body), env)  # noqa: S102 - source built above from the field types only
    return env["encode"]
