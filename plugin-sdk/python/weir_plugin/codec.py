"""Rows across the boundary, as docs/abi.md specifies them: each row is its
fields in declared order, each field in bincode's fixed-width little-endian
form (string: u64 byte length + UTF-8; f64; i64; bool: one byte 0 or 1;
timestamp: i64 milliseconds since the Unix epoch), rows back to back."""

import dataclasses
import struct
import typing

_F64 = struct.Struct("<d")
_I64 = struct.Struct("<q")
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


def decoder(row_type):
    """A function (rows: bytes, count: int) -> list of row_type."""
    kinds = [kind for _, kind in fields_of(row_type)]

    def decode(rows, count):
        view = memoryview(rows)
        at = 0
        out = []
        for row in range(count):
            values = []
            for kind in kinds:
                if kind == "f64":
                    values.append(_F64.unpack_from(view, at)[0])
                    at += 8
                elif kind == "string":
                    (length,) = _U64.unpack_from(view, at)
                    at += 8
                    if at + length > len(view):
                        raise ValueError(f"row {row}: a string runs past the rows")
                    values.append(bytes(view[at:at + length]).decode("utf-8"))
                    at += length
                elif kind == "bool":
                    byte = view[at]
                    if byte > 1:
                        raise ValueError(f"row {row}: {byte} is not a bool")
                    values.append(byte == 1)
                    at += 1
                elif kind == "timestamp":
                    values.append(Timestamp(_I64.unpack_from(view, at)[0]))
                    at += 8
                else:
                    values.append(_I64.unpack_from(view, at)[0])
                    at += 8
            out.append(row_type(*values))
        if at != len(view):
            raise ValueError(f"{len(view) - at} bytes follow the {count} rows")
        return out

    return decode


def encoder(row_type):
    """A function (row, out: bytearray) appending the row's encoding."""
    fields = fields_of(row_type)

    def encode(row, out):
        if type(row) is not row_type:
            raise TypeError(f"expected a {row_type.__name__}, got {type(row).__name__}")
        for name, kind in fields:
            value = getattr(row, name)
            if kind == "f64":
                out += _F64.pack(float(value))
            elif kind == "string":
                data = value.encode("utf-8")
                out += _U64.pack(len(data))
                out += data
            elif kind == "bool":
                out.append(1 if value else 0)
            else:
                out += _I64.pack(int(value))

    return encode
