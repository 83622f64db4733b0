"""Reading a file the user named: its bytes or its UTF-8 text, or one DataError line
saying why not (not found, a folder, no permission, not UTF-8)."""

from __future__ import annotations

from pathlib import Path

from core.errors import DataError


def read_file_bytes(path: str | Path, what: str = "file") -> bytes:
    """The bytes at ``path``; the error calls the file ``what`` ("file", "types file")."""
    path = Path(path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{what} {str(path)!r} not found") from None
    except IsADirectoryError:
        raise DataError(f"{what} {str(path)!r} is a folder") from None
    except PermissionError:
        raise DataError(f"no permission to read {what} {str(path)!r}") from None


def read_utf8_text(path: str | Path, what: str = "file") -> str:
    """The text at ``path``, UTF-8 with or without a byte-order mark."""
    try:
        return read_file_bytes(path, what).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(f"{what} {str(path)!r} is not UTF-8 text") from None


def one_line(error: Exception) -> str:
    """An exception's message with its line breaks and runs of spaces made single spaces."""
    return " ".join(str(error).split())
